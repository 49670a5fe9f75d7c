"""New genes and new species for a trained model (scArches style): query models."""

from __future__ import annotations

import copy
import logging

import anndata as ad
import numpy as np
import pandas as pd
import torch
from scipy import sparse
from scvi import REGISTRY_KEYS

from ._base import UGEBase
from ._build import ModelInputs, extend

logger = logging.getLogger(__name__)


def _reference_model(cls, reference):
    """A trained model from a model or a directory saved with its AnnData."""
    if isinstance(reference, str):
        reference = cls.load(reference)
    if not isinstance(reference, cls):
        raise TypeError(
            f"reference must be a trained {cls.__name__} or the directory it was saved to, "
            f"got {type(reference).__name__}."
        )
    if not reference.is_trained_:
        raise ValueError("The reference model is not trained: call reference.train() first.")
    return reference


def _register_query(cls, adata: ad.AnnData, reference) -> None:
    """Register query data with the reference's setup, extended by its new genes, species,
    batches and conditions, after checking its layout and labels."""
    registry = copy.deepcopy(reference.adata_manager.registry)
    args = registry["setup_args"]
    if not adata.var_names[: reference.adata.n_vars].equals(reference.adata.var_names):
        raise ValueError(
            "The query's genes must start with the reference's genes in the reference's "
            "order: lay it out with `adata = UGE.prepare_query_anndata(adata, reference)`."
        )
    labels, unlabeled = reference.labels_, reference.unlabeled_category_
    lkey = args["labels_key"]
    if lkey is not None:
        if lkey not in adata.obs:
            raise KeyError(f"adata.obs[{lkey!r}] not found: the reference registered it.")
        unknown = sorted(set(adata.obs[lkey].astype(str)) - set(labels) - {unlabeled})
        if unknown:
            fix = (
                f"mark them {unlabeled!r} (the unlabeled_category)"
                if unlabeled is not None
                else "train a reference with these labels"
            )
            raise ValueError(f"Labels {unknown} are not the reference's {labels}: {fix}.")
    x_field = registry["field_registries"][REGISTRY_KEYS.X_KEY]["state_registry"]
    x_field["n_vars"], x_field["column_names"] = adata.n_vars, adata.var_names.to_numpy()
    cls.setup_anndata(adata, source_registry=registry, extend_categories=True, **args)


def _reindex_columns(x, pos: np.ndarray, n_cols: int):
    """``x``'s columns moved to positions ``pos`` of a matrix with ``n_cols`` columns (the
    others 0); sparse stays sparse."""
    if sparse.issparse(x):
        x = sparse.csr_matrix(x)
        # copies: sorting the new indices permutes the values, which must not be the user's
        out = sparse.csr_matrix(
            (x.data.copy(), pos[x.indices], x.indptr.copy()), shape=(x.shape[0], n_cols)
        )
        out.sort_indices()
        return out
    x = np.asarray(x)
    out = np.zeros((x.shape[0], n_cols), dtype=x.dtype)
    out[:, pos] = x
    return out


_BATCH_NORMS = torch.nn.BatchNorm1d | torch.nn.BatchNorm2d | torch.nn.BatchNorm3d


def _block(shape: list[int]) -> tuple[slice, ...]:
    return tuple(slice(0, n) for n in shape)


def freeze_reference(module: torch.nn.Module, shapes: dict[str, list[int]]) -> None:
    """Train only what a reference of parameter ``shapes`` did not have.

    Parameters of the reference's shape are frozen; a parameter that grew (rows of new
    genes, species, batches or conditions) keeps its reference block fixed through a
    gradient mask, and only the new entries train. Batch-norm statistics stay as they
    are (momentum 0), as scvi-tools' scArches does.
    """
    for name, param in module.named_parameters():
        shape = shapes.get(name)
        if shape is None:
            continue
        if list(param.shape) == list(shape):
            param.requires_grad_(False)
            continue
        mask = torch.ones_like(param)
        mask[_block(shape)] = 0.0
        param.register_hook(lambda grad, mask=mask: grad * mask)
    for mod in module.modules():
        if isinstance(mod, _BATCH_NORMS):
            mod.momentum = 0.0


def copy_reference(module: torch.nn.Module, shapes: dict[str, list[int]], state: dict) -> None:
    """Copy the reference's weights ``state`` into the reference block of every parameter,
    and its batch-norm statistics (the classifier's statistics are the reference's)."""
    state = {k: v.detach().cpu() for k, v in state.items()}
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name in shapes:
                param[_block(shapes[name])] = state[name]
        for name, mod in module.named_modules():
            if isinstance(mod, _BATCH_NORMS):
                for key, buf in mod.named_buffers():
                    buf.copy_(state[f"{name}.{key}"])


def trainable_entries(module: torch.nn.Module, shapes: dict[str, list[int]]) -> int:
    """Entries of ``module``'s parameters outside the reference blocks of ``shapes``."""
    total = 0
    for name, param in module.named_parameters():
        shape = shapes.get(name)
        total += param.numel() - (int(np.prod(shape)) if shape is not None else 0)
    return total


def start_new_species_as_reference(module: torch.nn.Module, n_reference: int) -> None:
    """Start each new species' token and latent map at the mean of the reference species'
    ones, so that its latents start inside the reference's latent space, where the
    reference's classifier was trained (a fresh random map starts them elsewhere)."""
    with torch.no_grad():
        for param in (module.proj_weight, module.proj_bias, module.embedding.species.weight):
            param[n_reference:] = param[:n_reference].mean(0)


class QueryMixin(UGEBase):
    """Adding genes and species to a trained model (mixin of :class:`uge.UGE`)."""

    query_: dict | None = None

    @classmethod
    def prepare_query_anndata(cls, adata: ad.AnnData, reference) -> ad.AnnData:
        """Lay out new data for :meth:`load_query_data`: the reference's genes, then new ones.

        Returns a new AnnData (``adata`` is not changed): its genes are all the reference
        model's genes in the reference's order (those ``adata`` lacks are 0), followed by
        ``adata``'s genes the reference does not have (new genes of known species, or the
        genes of a new species). ``X`` and the registered layer are laid out so (sparse
        stays sparse); ``obs`` and ``obsm`` are copied.

        Parameters
        ----------
        adata
            New samples, with ``obs[species_key]`` and ``var[species_key]`` as for
            :meth:`setup_anndata` (e.g. from :func:`uge.pp.concat_species`); genes named as
            in the reference (``"<species>:<gene>"``).
        reference
            The trained model, or the directory it was saved to with ``save_anndata=True``.
        """
        reference = _reference_model(cls, reference)
        args = reference.adata_manager.registry["setup_args"]
        key, layer = args["species_key"], args["layer"]
        for frame, where in ((adata.obs, "obs"), (adata.var, "var")):
            if key not in frame:
                raise KeyError(
                    f"adata.{where}[{key!r}] not found: the query needs each sample's and "
                    "gene's species, as in the reference."
                )
        if layer is not None and layer not in adata.layers:
            raise KeyError(
                f"adata.layers[{layer!r}] not found: the reference was set up on that layer."
            )
        ref_var = reference.adata.var
        known = adata.var_names.isin(ref_var.index)
        sp_query = adata.var[key].astype(str)[known]
        sp_ref = ref_var.loc[adata.var_names[known], key].astype(str)
        wrong = sp_query.to_numpy() != sp_ref.to_numpy()
        if wrong.any():
            gene = adata.var_names[known][wrong][0]
            raise ValueError(
                f"{wrong.sum()} genes have another species than in the reference, e.g. "
                f"{gene!r}: {sp_query.iloc[np.flatnonzero(wrong)[0]]!r} here, "
                f"{sp_ref.iloc[np.flatnonzero(wrong)[0]]!r} in the reference. Name genes "
                "'<species>:<gene>' (uge.pp.concat_species does)."
            )
        new = adata.var_names[~known]
        cols = [c for c in (key, "gene") if c in ref_var and c in adata.var]
        var = pd.concat([ref_var[cols], adata.var.loc[new, cols]])
        var[key] = var[key].astype(str)
        pos = var.index.get_indexer(adata.var_names)
        query_species = set(adata.obs[key].astype(str))
        missing = ~ref_var.index.isin(adata.var_names) & ref_var[key].astype(str).isin(
            query_species
        )
        if missing.any():
            logger.warning(
                "%d reference genes of the query's species are absent from the query and set to 0.",
                missing.sum(),
            )
        layers = {}
        if layer is not None:
            layers[layer] = _reindex_columns(adata.layers[layer], pos, len(var))
        return ad.AnnData(
            X=_reindex_columns(adata.X, pos, len(var)),
            obs=adata.obs.copy(),
            var=var,
            layers=layers,
            obsm=dict(adata.obsm),
        )

    @classmethod
    def load_query_data(
        cls,
        adata: ad.AnnData,
        reference,
        orthologs: pd.DataFrame | dict | None = None,
    ):
        """A model that adds new genes, species or batches to a trained one (scArches style).

        The new model holds the reference's weights and trains only what the reference did
        not have: embeddings and decoder baselines (and dispersions) of the new genes, the
        species token and latent map of a new species (both start at the mean of the
        reference species' ones), and embeddings of new batches or conditions. Everything
        else is frozen (gradient masks; batch-norm statistics fixed;
        :meth:`train` then uses no weight decay), so the reference's genes and samples keep
        exactly their embeddings and latents. Call :meth:`train` on it, then
        :meth:`get_latent_representation`, :meth:`predict_labels` (the reference's
        classifier, or kNN against reference samples passed in ``adata``) and
        :meth:`map_genes` work for the new genes and species.

        New genes of a species the reference knows are decoded (learned from the query's
        samples through the shared decoder) but are not input tokens, so the latents of
        that species do not change. A new species' token genes are chosen from its genes as
        in :class:`UGE`. New genes are anchored on their partners: their pairs in
        ``orthologs`` (pairs between two reference genes are ignored: those genes are
        trained) and, where the reference aligned genes by reactome, their reactome
        matches with the reference's genes (the reference's rule, with the new genes'
        reactomes measured on the query's samples); without a partner, a gene's
        embedding is learned from its expression alone.

        Parameters
        ----------
        adata
            Query samples laid out by :meth:`prepare_query_anndata` (the reference's genes
            in order, then new genes). Registered here with the reference's setup: labels
            must be the reference's or its ``unlabeled_category``; new species, batches and
            conditions are added.
        reference
            The trained model, or the directory it was saved to with ``save_anndata=True``.
        orthologs
            Optional ortholog table (as for :class:`UGE`) with pairs of new genes.

        Returns
        -------
        UGE
            The query model, untrained; ``model.query_`` says what was added.
        """
        reference = _reference_model(cls, reference)
        n_ref = reference.adata.n_vars
        _register_query(cls, adata, reference)
        manager = cls._get_most_recent_anndata_manager(adata)
        inputs, n_ortho, n_reactome = extend(reference, manager, orthologs)
        init = reference.init_params_
        model = cls(adata, **init["non_kwargs"], **init.get("kwargs", {}), _inputs=inputs)
        module = reference.module
        copy_reference(model.module, inputs.reference_shapes, module.state_dict())
        start_new_species_as_reference(model.module, module.n_species)
        trainable = trainable_entries(model.module, inputs.reference_shapes)
        model.query_.update(
            {
                "reference_species": list(reference.species_),
                "new_genes": int(adata.n_vars - n_ref),
                "new_ortholog_pairs": n_ortho,
                "new_reactome_pairs": n_reactome,
                "trainable_parameters": int(trainable),
                "gene_alignment": model.gene_alignment_,
            }
        )
        logger.info(
            "Query model: %d new genes, new species %s, %d new ortholog pairs, %d new "
            "reactome pairs; %d of %d parameters train.",
            adata.n_vars - n_ref,
            model.species_[len(reference.species_) :],
            n_ortho,
            n_reactome,
            trainable,
            sum(p.numel() for p in model.module.parameters()),
        )
        return model

    @property
    def _query_plan(self) -> dict:
        """Training-plan defaults of a query model: no weight decay on frozen weights."""
        return {"weight_decay": 0.0} if self.query_ else {}

    def _start_query(self, inputs: ModelInputs) -> None:
        """Make a freshly built module a query model's: only what the reference lacked
        trains, and the residual penalty covers the newest genes only (the others'
        residuals are fixed), relative to their own anchors as in training the reference."""
        gene, level = self.module.embedding.gene, inputs.level
        newest = torch.as_tensor(level == level.max())[gene.anchored_ids]
        gene.anchored_ids = gene.anchored_ids[newest]
        self.query_ = {
            "gene_level": level,
            "reference_shapes": inputs.reference_shapes,
            "prior_pairs": inputs.prior,
        }
        freeze_reference(self.module, inputs.reference_shapes)
