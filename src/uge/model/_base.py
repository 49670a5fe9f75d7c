"""UGEBase: what every capability of the UGE model builds on.

The capability mixins (:mod:`._genes`, :mod:`._reactome`, :mod:`._transfer`,
:mod:`._insilico`, :mod:`._query`) each depend on this class alone: the registered
species, labels and genes, latents, decoding into a species, and the latent points of
every (label, condition).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anndata as ad
import numpy as np
import pandas as pd
import torch
from anndata.abc import CSRDataset
from scipy import sparse
from scvi import REGISTRY_KEYS
from scvi.model.base import BaseModelClass

from uge._constants import CONDITION_KEY, SEP, SPECIES_KEY
from uge.core import check_genes, genes_of, label_shifts, validate_setup

from ._memory import release_memory


class UGEBase(BaseModelClass):
    """The registered data, latents and decoding shared by every capability of :class:`uge.UGE`."""

    species_: list[str]
    labels_: list[str]
    unlabeled_category_: str | None
    prior_pairs_: np.ndarray
    query_: dict | None = None

    @property
    def _setup_args(self) -> dict:
        """The arguments the AnnData was registered with (:meth:`uge.UGE.setup_anndata`)."""
        return self.adata_manager.registry["setup_args"]

    def _registered_species(self) -> tuple[list[str], np.ndarray]:
        """The registered species, and each gene's species as a code into them (-1 for a
        species without samples)."""
        manager = self.adata_manager
        species = [str(s) for s in manager.get_state_registry(SPECIES_KEY).categorical_mapping]
        key = self._setup_args["species_key"]
        codes = pd.Categorical(self.adata.var[key].astype(str), categories=species).codes
        return species, codes.astype(np.int64)

    def _n_conditions(self) -> int:
        """Registered conditions (the external tokens); 0 without a condition."""
        if self._setup_args["condition_key"] is None:
            return 0
        return len(self.adata_manager.get_state_registry(CONDITION_KEY).categorical_mapping)

    def _registered_labels(self) -> tuple[list[str], str | None]:
        """The registered labels (without the unlabelled category) and that category."""
        if self._setup_args["labels_key"] is None:
            return [], None
        state = self.adata_manager.get_state_registry(REGISTRY_KEYS.LABELS_KEY)
        unlabeled = state.get("unlabeled_category")
        labels = [str(v) for v in state.categorical_mapping if unlabeled is None or v != unlabeled]
        return labels, None if unlabeled is None else str(unlabeled)

    def _validate_anndata(
        self, adata: ad.AnnData | None = None, copy_if_view: bool = True
    ) -> ad.AnnData:
        if adata is not None and adata is not self.adata:
            self._check_compatible(adata)
        return super()._validate_anndata(adata, copy_if_view)

    def _check_compatible(self, adata: ad.AnnData) -> None:
        """Clear errors for new data whose genes or species the model does not know."""
        args = self._setup_args
        check_genes(
            adata.var_names,
            self.adata.var_names,
            "Subset and order it as the training data, e.g. "
            "`adata = adata[:, model.adata.var_names]`, after adding missing genes as zeros.",
        )
        key = args["species_key"]
        if key not in adata.obs:
            raise KeyError(f"adata.obs[{key!r}] not found: the model needs each sample's species.")
        unseen = sorted(set(adata.obs[key].astype(str)) - set(self.species_))
        if unseen:
            raise ValueError(
                f"Species {unseen} were not seen at training time; the model knows "
                f"{self.species_}. Add them to this model with UGE.load_query_data, or "
                "train a model on data that includes them."
            )
        validate_setup(
            adata,
            args["layer"],
            key,
            args["labels_key"],
            args["condition_key"],
            args["control_condition"],
            args["batch_key"],
            training=False,
        )

    @torch.inference_mode()
    def _map_batches(
        self,
        fn: Callable[[dict, dict, slice], torch.Tensor],
        adata: ad.AnnData | None,
        indices: Sequence[int] | None,
        batch_size: int | None,
    ) -> np.ndarray:
        adata = self._validate_anndata(adata)
        self.module.eval()
        loader = self._make_data_loader(
            adata=adata,
            indices=indices,
            batch_size=batch_size,
            load_sparse_tensor=self._sparse_input(adata),
        )
        out, start = [], 0
        for tensors in loader:
            inference = self.module.inference(**self.module._get_inference_input(tensors))
            stop = start + len(inference["z"])
            out.append(fn(tensors, inference, slice(start, stop)).cpu().numpy())
            start = stop
            release_memory()  # else freed minibatch memory piles up over many batches
        return np.concatenate(out)

    def _sparse_input(self, adata: ad.AnnData) -> bool:
        """Whether ``adata``'s registered expression is CSR sparse (in memory or backed):
        its minibatches then reach the module as sparse CSR tensors."""
        x = self.get_anndata_manager(adata).get_from_registry(REGISTRY_KEYS.X_KEY)
        return isinstance(x, sparse.csr_matrix | CSRDataset)

    def get_latent_representation(
        self,
        adata: ad.AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Sample latents in the space shared by species (the projected ``<cls>`` output).

        Parameters
        ----------
        adata
            AnnData with the model's genes; ``None`` for the training data.
        indices
            Samples to use; all when ``None``.
        batch_size
            Minibatch size; scvi-tools' default when ``None``.

        Returns
        -------
        numpy.ndarray
            ``(n_samples, n_latent)`` latents; set them as ``adata.obsm["X_uge"]`` for
            ``sc.pp.neighbors(adata, use_rep="X_uge")``.
        """
        self._check_if_trained(warn=True)
        return self._map_batches(lambda t, inf, _: inf["z"], adata, indices, batch_size)

    def _check_species(self, name: str, what: str) -> None:
        if name not in self.species_:
            raise ValueError(f"{what}={name!r} is not one of the model's species {self.species_}.")

    def _labelled_samples(self) -> np.ndarray:
        """Mask of the training samples with a label (not the unlabelled category)."""
        key = self._setup_args["labels_key"]
        labels = self.adata.obs[key].astype(str).to_numpy()
        if self.unlabeled_category_ is None:
            return np.ones(len(labels), dtype=bool)
        return labels != self.unlabeled_category_

    def _decode_into(
        self, tensors: dict, inference: dict, z: torch.Tensor, target: int
    ) -> torch.Tensor:
        """Decode latents into the genes of species ``target`` at the samples' libraries."""
        species = torch.full_like(inference["species"], target)
        batch = self.module._codes(tensors, REGISTRY_KEYS.BATCH_KEY)
        out = self.module.generative(z, species, inference["library"], batch=batch)
        return self.module.expected_values(out, len(z))

    @torch.inference_mode()
    def _decoded(self, z: np.ndarray) -> np.ndarray:
        """Decoder logits of every gene at latents ``z``, species' offsets removed.

        Per species, the mean over its genes is subtracted from each row: a shift shared by
        all genes of a species is not expression (the softmax over a species' genes ignores
        it), so genes compare by their own changes only.
        """
        module = self.module
        module.eval()
        device = next(module.parameters()).device
        logits = module.gene_logits(torch.as_tensor(z, dtype=torch.float32, device=device))
        logits = logits.double().cpu().numpy()
        for s in range(len(self.species_)):
            cols = module.species_genes[s].cpu().numpy()
            logits[:, cols] -= logits[:, cols].mean(1, keepdims=True)
        return logits

    def _training_latents(self) -> tuple[np.ndarray, pd.DataFrame]:
        """Latents of the training samples with their species, labels and conditions."""
        args = self._setup_args
        obs = self.adata.obs
        keys = {"species": args["species_key"], "label": args["labels_key"]}
        keys["condition"] = args["condition_key"]
        meta = pd.DataFrame(
            {k: (obs[v].astype(str).to_numpy() if v else "all") for k, v in keys.items()},
            index=obs.index,
        )
        return self.get_latent_representation(), meta

    def _reactome_points(
        self,
        labels: Sequence[str] | None = None,
        conditions: Sequence[str] | None = None,
        species: str | None = None,
        measured_only: bool = False,
    ) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
        """Latent points before and after each ``(label, condition)`` and where the shift is from.

        Before: the mean control latent of the label (of ``species`` when it has control
        samples of the label, else of all species). Shift: the mean over species that
        measured the condition in the label of condition minus control latent means;
        where none did, the mean of that shift over the other labels that measured it.
        ``measured_only`` keeps only combinations measured in some species.
        """
        args = self._setup_args
        if not args["condition_key"]:
            raise ValueError(
                "A reactome needs conditions: register condition_key (and control_condition, "
                "and labels_key for one column per label) in UGE.setup_anndata."
            )
        z, meta = self._training_latents()
        control = args["control_condition"]
        lab, cond, sp = (meta[k].to_numpy() for k in ("label", "condition", "species"))
        known_labels = sorted(set(lab) - {str(self.unlabeled_category_)})
        known_conditions = sorted(set(cond) - {control})
        for name, asked, known in (
            ("labels", labels, known_labels),
            ("conditions", conditions, known_conditions),
        ):
            unknown = [a for a in asked or [] if a not in known]
            if unknown:
                raise ValueError(f"{name} {unknown} were not in training; known: {known}.")
        shifts: dict[tuple[str, str], np.ndarray] = {}
        for c in known_conditions:
            per_species = [label_shifts(z, lab, cond, c, control, sp == s) for s in np.unique(sp)]
            for a in known_labels:
                found = [d[a] for d in per_species if a in d]
                if found:
                    shifts[(a, c)] = np.mean(found, axis=0)
        labels = list(dict.fromkeys(labels)) if labels else known_labels
        conditions = list(dict.fromkeys(conditions)) if conditions else known_conditions
        columns, before, after, source = [], [], [], []
        for a in labels:
            ctrl = (lab == a) & (cond == control)
            own = ctrl & (sp == species) if species is not None else ctrl
            base_rows = own if own.any() else ctrl
            if not base_rows.any():
                continue
            base = z[base_rows].mean(0)
            for c in conditions:
                if (a, c) in shifts:
                    shift, how = shifts[(a, c)], "measured"
                elif measured_only:
                    continue
                else:
                    other = [v for (b, d), v in shifts.items() if d == c]
                    if not other:
                        continue
                    shift, how = np.mean(other, axis=0), "mean over other labels"
                columns.append(f"{a}{SEP}{c}")
                before.append(base)
                after.append(base + shift)
                source.append(how)
        if not columns:
            raise ValueError(
                "No (label, condition) combination has control samples of the label and a "
                "measured shift of the condition: nothing to decode."
            )
        return columns, np.stack(before), np.stack(after), source

    def _gene_positions(self, species: str) -> np.ndarray:
        """Positions of ``species``' genes in ``var`` (increasing)."""
        return self.adata.var_names.get_indexer(self._genes_of(species))

    def _genes_of(self, species: str, genes: Sequence[str] | None = None) -> pd.Index:
        """``var_names`` of ``species``' genes, from var_names or the species' own names."""
        skey = self._setup_args["species_key"]
        return genes_of(self.adata.var, skey, species, genes)
