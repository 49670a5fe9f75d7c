"""In-silico perturbation of genes: knock out or overexpress them in the model's input."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import torch
from scvi import REGISTRY_KEYS

from uge.core import row_chunks, species_of_genes

from ._base import UGEBase

Mode = Literal["knockout", "overexpress"]


class InSilicoMixin(UGEBase):
    """In-silico perturbation (mixin of :class:`uge.UGE`)."""

    @torch.inference_mode()
    def in_silico_perturb(
        self,
        genes: Sequence[str] | str,
        mode: Mode = "knockout",
        adata: ad.AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
    ) -> ad.AnnData:
        """Knock out or overexpress genes in each sample's input and measure the effect.

        As GeneCompass and Geneformer do in silico: each sample of the genes' species is
        encoded twice, as measured and with the genes changed. ``"knockout"`` sets their
        expression to 0; ``"overexpress"`` sets it to the sample's highest value among its
        species' genes (a count, or a log-normalised value, as the input is). The shift of
        the latent (the sample embedding) and the change of the decoded expression of
        every gene of the species are returned. Samples of other species are left out.

        Parameters
        ----------
        genes
            Genes perturbed together, all of one species (``var_names`` or the species' own
            names in ``var["gene"]``).
        mode
            ``"knockout"`` or ``"overexpress"``.
        adata
            AnnData with the model's genes; ``None`` for the training data.
        indices
            Samples to perturb (of the genes' species); all of that species when ``None``.
        batch_size
            Minibatch size.

        Returns
        -------
        anndata.AnnData
            Perturbed samples × the species' genes. ``X``: change of the decoded
            log-expression (natural log of perturbed over unperturbed decoded mean, with a
            pseudo-count of 1e-3 of the sample's total for counts); ``obs``:
            ``cosine_shift`` (1 - cosine of the two latents) and ``latent_distance``
            (Euclidean), with the samples' ``obs``; ``obsm["X_uge"]`` and
            ``obsm["X_uge_perturbed"]``: the two latents; ``uns["uge"]["params"]``: the
            genes, the mode and the species.
        """
        if mode not in ("knockout", "overexpress"):
            raise ValueError(f"mode must be 'knockout' or 'overexpress', got {mode!r}.")
        self._check_if_trained(warn=True)
        genes = [genes] if isinstance(genes, str) else list(genes)
        if not genes:
            raise ValueError("genes is empty: name at least one gene to perturb.")
        args = self._setup_args
        skey = args["species_key"]
        species, picked = species_of_genes(self.adata.var, skey, self.species_, genes)
        adata = self._validate_anndata(adata)
        own = np.flatnonzero((adata.obs[skey].astype(str) == species).to_numpy())
        rows = own if indices is None else np.asarray(indices)
        if not np.isin(rows, own).all():
            raise ValueError(f"indices must be {species} samples: {species} genes are perturbed.")
        cols = torch.as_tensor(self.adata.var_names.get_indexer(picked))
        species_cols = self._gene_positions(species)
        level = None
        if mode == "overexpress":
            level = torch.as_tensor(self._high_level(species, picked), dtype=torch.float32)
        self.module.eval()
        loader = self._make_data_loader(adata=adata, indices=rows, batch_size=batch_size)
        target = self.species_.index(species)
        parts = [self._perturb_batch(t, mode, cols, species_cols, level, target) for t in loader]
        before, after, changes = (torch.cat(p) for p in zip(*parts, strict=True))
        shifts = 1.0 - torch.nn.functional.cosine_similarity(before, after, dim=1)
        dists = (after - before).norm(dim=1)
        obs = adata.obs.iloc[rows].copy()
        obs["cosine_shift"] = shifts.detach().cpu().numpy()
        obs["latent_distance"] = dists.detach().cpu().numpy()
        out = ad.AnnData(
            changes.detach().cpu().numpy().astype(np.float32),
            obs=obs,
            var=pd.DataFrame(index=self.adata.var_names[species_cols]),
        )
        out.obsm["X_uge"] = before.detach().cpu().numpy()
        out.obsm["X_uge_perturbed"] = after.detach().cpu().numpy()
        out.uns["uge"] = {"params": {"genes": list(picked), "mode": mode, "species": species}}
        return out

    def _perturb_batch(
        self,
        tensors: dict,
        mode: str,
        cols: torch.Tensor,
        species_cols: np.ndarray,
        level: torch.Tensor | None,
        target: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One minibatch of :meth:`in_silico_perturb`: latents before and after the change
        of the genes ``cols``, and the change of the decoded log-expression."""
        x = tensors[REGISTRY_KEYS.X_KEY]
        changed = x.clone()
        if mode == "knockout":
            changed[:, cols] = 0.0
        elif self.module.likelihood == "gaussian":
            changed[:, cols] = torch.maximum(x[:, cols], level)
        else:  # the high level as a share of the sample's library
            library = x[:, torch.as_tensor(species_cols)].sum(1, keepdim=True)
            changed[:, cols] = torch.maximum(x[:, cols], (level * library).round())
        decoded = []
        for inp in (x, changed):
            t = dict(tensors)
            t[REGISTRY_KEYS.X_KEY] = inp
            inf = self.module.inference(**self.module._get_inference_input(t))
            mean = self._decode_into(t, inf, inf["z"], target)
            decoded.append((inf["z"], mean[:, species_cols]))
        (z0, m0), (z1, m1) = decoded
        if self.module.likelihood == "gaussian":  # log-normalised values: a difference
            return z0, z1, m1 - m0
        eps = 1e-3 * m0.sum(1, keepdim=True) / m0.shape[1]
        return z0, z1, torch.log((m1 + eps) / (m0 + eps))

    def _high_level(self, species: str, genes: pd.Index) -> np.ndarray:
        """95th percentile of each gene over the species' training samples (share of the
        library for counts)."""
        args = self._setup_args
        obs_species = self.adata.obs[args["species_key"]].astype(str).to_numpy()
        rows = np.flatnonzero(obs_species == species)
        cols = self.adata.var_names.get_indexer(genes)
        own = self._gene_positions(species)
        x = self.adata.X if args["layer"] is None else self.adata.layers[args["layer"]]
        parts = []
        for _, chunk in row_chunks(x, rows, own):
            chunk = chunk.toarray() if hasattr(chunk, "toarray") else np.asarray(chunk)
            values = chunk[:, np.searchsorted(own, cols)].astype(np.float64)
            if self.module.likelihood != "gaussian":
                values /= np.maximum(chunk.sum(1, keepdims=True), 1.0)
            parts.append(values)
        return np.quantile(np.vstack(parts), 0.95, axis=0)
