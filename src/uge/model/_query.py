"""New genes and new species for a trained model (scArches style): query models."""

from __future__ import annotations

import copy
import inspect
import logging

import anndata as ad
import numpy as np
import pandas as pd
import torch
from scipy import sparse
from scvi import REGISTRY_KEYS
from scvi.model.base import BaseModelClass

from uge.module._module import SPECIES_KEY
from uge.pp._orthologs import ortholog_pairs

from ._alignment import query_alignment_pairs
from ._inputs import choose_likelihood, choose_token_genes, gene_statistics

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


def freeze_reference(
    module: torch.nn.Module, shapes: dict[str, list[int]], state: dict | None = None
) -> int:
    """Train only what a reference of parameter ``shapes`` did not have.

    Parameters of the reference's shape are frozen; a parameter that grew (rows of new
    genes, species, batches or conditions) keeps its reference block fixed through a
    gradient mask, and only the new entries train. With ``state`` (the reference's
    weights) the reference block is copied in first, and so are the reference's
    batch-norm statistics, which then stay frozen (momentum 0), as scvi-tools' scArches
    does. Returns the number of trainable entries.
    """
    n_trainable = 0
    for name, param in module.named_parameters():
        shape = shapes.get(name)
        if shape is None:
            n_trainable += param.numel()
            continue
        block = tuple(slice(0, n) for n in shape)
        if state is not None:
            with torch.no_grad():
                param[block] = state[name]
        if list(param.shape) == list(shape):
            param.requires_grad_(False)
            continue
        mask = torch.ones_like(param)
        mask[block] = 0.0
        param.register_hook(lambda grad, mask=mask: grad * mask)
        n_trainable += int(mask.sum())
    for name, mod in module.named_modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.momentum = 0.0
            if state is not None:  # the classifier's statistics are the reference's
                with torch.no_grad():
                    for key, buf in mod.named_buffers():
                        buf.copy_(state[f"{name}.{key}"])
    return n_trainable


def start_new_species_as_reference(module: torch.nn.Module, n_reference: int) -> None:
    """Start each new species' token and latent map at the mean of the reference species'
    ones, so that its latents start inside the reference's latent space, where the
    reference's classifier was trained (a fresh random map starts them elsewhere)."""
    with torch.no_grad():
        for param in (module.proj_weight, module.proj_bias, module.embedding.species.weight):
            param[n_reference:] = param[:n_reference].mean(0)


class QueryMixin:
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
        registry = copy.deepcopy(reference.adata_manager.registry)
        args = registry["setup_args"]
        ref_names = reference.adata.var_names
        n_ref = len(ref_names)
        if not adata.var_names[:n_ref].equals(ref_names):
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
        model = cls.__new__(cls)
        BaseModelClass.__init__(model, adata)
        manager = model.adata_manager
        model.species_, gene_species = model._registered_species()
        key = args["species_key"]
        if (gene_species < 0).any():
            raise ValueError(
                f"Genes of species {sorted(set(adata.var[key][gene_species < 0]))} have no "
                "samples in the query: add their samples, or leave their genes out."
            )
        ref_level = reference.query_["gene_level"] if reference.query_ else np.zeros(n_ref)
        level = np.r_[ref_level, np.full(adata.n_vars - n_ref, max(ref_level, default=0) + 1)]
        ortho = ortholog_pairs(orthologs, adata.var, key, model.species_)
        ortho = ortho[(ortho >= n_ref).any(1)]
        params = _resolved_params(cls, reference.init_params_)
        new_pairs, pair_info = query_alignment_pairs(
            reference,
            adata,
            args,
            model.species_,
            np.r_[reference.prior_pairs_, ortho].astype(np.int64),
            reference.gene_alignment_["mode"],
            params["min_similarity"],
        )
        module = reference.module
        x = manager.get_from_registry(REGISTRY_KEYS.X_KEY)
        where = "adata.X" if args["layer"] is None else f"adata.layers[{args['layer']!r}]"
        choose_likelihood(x, module.likelihood, where)
        obs_species = manager.get_from_registry(SPECIES_KEY).ravel()
        inputs = _query_inputs(
            adata, x, obs_species, gene_species, module, new_pairs, model.species_
        )
        model._build_query(
            gene_species=gene_species,
            level=level,
            pairs=np.r_[module.gene_pairs.cpu().numpy(), new_pairs].astype(np.int64),
            prior=np.r_[reference.prior_pairs_, ortho].astype(np.int64),
            hyper=reference.init_params_,
            reference_shapes={k: list(v.shape) for k, v in module.named_parameters()},
            **inputs,
        )
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        trainable = freeze_reference(model.module, model.query_["reference_shapes"], state)
        start_new_species_as_reference(model.module, module.n_species)
        model.gene_alignment_ = {
            **reference.gene_alignment_,
            "query_ortholog_pairs": len(ortho),
            "query_reactome_pairs": pair_info["reactome_pairs"],
        }
        model.query_.update(
            {
                "reference_species": list(reference.species_),
                "new_genes": int(adata.n_vars - n_ref),
                "new_ortholog_pairs": len(ortho),
                "new_reactome_pairs": pair_info["reactome_pairs"],
                "trainable_parameters": int(trainable),
                "gene_alignment": model.gene_alignment_,
            }
        )
        logger.info(
            "Query model: %d new genes, new species %s, %d new ortholog pairs, %d new "
            "reactome pairs; %d of %d parameters train.",
            adata.n_vars - n_ref,
            model.species_[len(reference.species_) :],
            len(ortho),
            pair_info["reactome_pairs"],
            trainable,
            sum(p.numel() for p in model.module.parameters()),
        )
        return model

    @property
    def _query_plan(self) -> dict:
        """Training-plan defaults of a query model: no weight decay on frozen weights."""
        return {"weight_decay": 0.0} if self.query_ else {}

    def _load_query(self, meta: dict, state: dict) -> None:
        """Rebuild a saved query model's module (weights are loaded after) and its masks."""
        query = meta["query"]
        self.species_, gene_species = self._registered_species()
        self._build_query(
            gene_species=gene_species,
            level=np.asarray(query["gene_level"], dtype=np.int64),
            pairs=state["gene_pairs"].numpy(),
            prior=np.asarray(query["prior_pairs"], dtype=np.int64).reshape(-1, 2),
            hyper=meta["init_params"],
            reference_shapes=query["reference_shapes"],
            candidates=state["token_candidates"].numpy(),
            mean=state["gene_mean"].numpy(),
            std=state["gene_std"].numpy(),
            baseline=None,
        )
        self.query_ = query
        self.gene_alignment_ = query["gene_alignment"]
        freeze_reference(self.module, query["reference_shapes"])

    def _build_query(
        self,
        gene_species: np.ndarray,
        level: np.ndarray,
        pairs: np.ndarray,
        prior: np.ndarray,
        hyper: dict,
        reference_shapes: dict,
        candidates: np.ndarray,
        mean: np.ndarray,
        std: np.ndarray,
        baseline: np.ndarray | None,
    ) -> None:
        """Set up a query model's module and attributes (by :meth:`load_query_data` and
        :meth:`load`)."""
        params = _resolved_params(type(self), hyper)
        self.labels_, self.unlabeled_category_ = self._registered_labels()
        self.prior_pairs_ = prior
        classification_weight = params["classification_weight"]
        if classification_weight is None:
            classification_weight = 1.0 if self.unlabeled_category_ is not None else 0.0
        n_species = len(self.species_)
        self.module = self._module_cls(
            gene_species=torch.as_tensor(gene_species),
            token_candidates=torch.as_tensor(candidates),
            gene_mean=torch.as_tensor(mean, dtype=torch.float32),
            gene_std=torch.as_tensor(std, dtype=torch.float32),
            gene_baseline=None if baseline is None else torch.as_tensor(baseline).float(),
            n_conditions=self._n_conditions(),
            n_batch=self.summary_stats.n_batch,
            likelihood=params["likelihood"],
            **{k: params[k] for k in UGE_MODULE_PARAMS},
            gene_pairs=torch.as_tensor(pairs),
            n_labels=len(self.labels_),
            classification_weight=classification_weight,
            gene_rank=torch.as_tensor(level * n_species + gene_species),
        )
        # the residual penalty covers the genes this model trains (the others' residuals are
        # fixed): relative to the new genes' own anchors, as in training the reference
        gene = self.module.embedding.gene
        newest = torch.as_tensor(level == level.max())[gene.anchored_ids]
        gene.anchored_ids = gene.anchored_ids[newest]
        self.init_params_ = hyper
        self.query_ = {
            "gene_level": level.astype(np.int64),
            "reference_shapes": reference_shapes,
            "prior_pairs": prior,
        }
        self._model_summary_string = (
            f"UGE query model: species {self.species_}, {self.adata.n_vars} genes "
            f"({int((level == level.max()).sum()) if level.max() > 0 else 0} new), "
            f"likelihood {params['likelihood']!r}; only the new genes', species' and batches' "
            f"parameters train."
        )


def _resolved_params(cls, hyper: dict) -> dict:
    """The model's ``__init__`` arguments: its defaults, updated by the saved ``hyper``."""
    signature = inspect.signature(cls.__init__).parameters.values()
    params = {p.name: p.default for p in signature if p.default is not p.empty}
    params.update({**hyper.get("non_kwargs", {}), **hyper.get("kwargs", {})})
    return params


UGE_MODULE_PARAMS = (
    "d_model",
    "n_layers",
    "n_heads",
    "n_latent",
    "n_hidden",
    "dropout",
    "max_tokens",
    "gene_align_weight",
    "latent_align_weight",
)


def _query_inputs(
    adata: ad.AnnData,
    x,
    obs_species: np.ndarray,
    gene_species: np.ndarray,
    module,
    pairs: np.ndarray,
    species: list[str],
) -> dict:
    """Token genes and gene statistics of a query: the reference's, plus those of new genes
    (from the query's samples of their species) and new species (token genes chosen as in
    :class:`UGE`)."""
    n_ref = len(module.gene_mean)
    n_species = len(species)
    n_ref_species = module.n_species
    mean = np.r_[module.gene_mean.cpu().numpy(), np.zeros(len(gene_species) - n_ref)]
    std = np.r_[module.gene_std.cpu().numpy(), np.ones(len(gene_species) - n_ref)]
    baseline = np.r_[
        module.decoder.gene_bias.detach().cpu().numpy(), np.zeros(len(gene_species) - n_ref)
    ]
    new = np.arange(n_ref, len(gene_species))
    for s in np.unique(gene_species[new]):
        cols = new[gene_species[new] == s]
        rows = np.flatnonzero(obs_species == s)
        if not len(rows):
            raise ValueError(
                f"The query's new {species[s]} genes have no samples of that species in the "
                f"query to learn from: add {species[s]} samples, or leave those genes out."
            )
        mean[cols], std[cols], baseline[cols] = gene_statistics(x, rows, cols, module.likelihood)
        std[cols] = np.maximum(std[cols], 0.1)
    candidates = np.zeros((n_species, len(gene_species)), dtype=bool)
    candidates[:n_ref_species, :n_ref] = module.token_candidates.cpu().numpy()
    if n_species > n_ref_species:
        hvg = (
            adata.var["highly_variable"].to_numpy(bool) if "highly_variable" in adata.var else None
        )
        new_species = list(range(n_ref_species, n_species))
        chosen = choose_token_genes(
            std**2, gene_species, n_species, module.max_tokens, hvg, pairs, new_species
        )
        candidates[n_ref_species:] = chosen[n_ref_species:]
    return {"candidates": candidates, "mean": mean, "std": std, "baseline": baseline}
