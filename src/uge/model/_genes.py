"""The learned gene space: gene embeddings as the decoder reads them, and gene mapping."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from uge.core import cosine, top_k_table

from ._base import UGEBase

Space = Literal["expression", "reactome"]
PANEL_SIZE = 2000


class GenesMixin(UGEBase):
    """Gene embeddings and cross-species gene mapping (mixin of :class:`uge.UGE`)."""

    def gene_profiles(self, space: Space = "expression") -> pd.DataFrame:
        """Every gene's decoded response profile, on which genes are compared across species.

        ``"reactome"`` (needs a registered condition): the model's own reactome. For every
        ``(label, condition)`` measured in any species, the latent shift of ``condition``
        within the label (mean over the species that measured it of condition minus control
        latent means) is added to the label's control latent mean (pooled over species) and
        both points are decoded; each gene's change in decoder log-rate is its entry. Every
        gene gets every column, also those its own species never measured, because latents
        and decoder are shared. ``"expression"``: each gene's decoded log-rate over a panel of
        up to 2,000 training samples of all species, centred per gene (two genes' cosine is
        the correlation of their decoded expression).

        Returns
        -------
        pandas.DataFrame
            Genes (``var_names``) × profile columns.
        """
        args = self._setup_args
        if space not in ("reactome", "expression"):
            raise ValueError(f"space must be 'expression' or 'reactome', got {space!r}.")
        if space == "reactome" and not args["condition_key"]:
            raise ValueError(
                "space='reactome' needs a condition registered in UGE.setup_anndata "
                "(condition_key=...); use space='expression'."
            )
        genes = self.adata.var_names
        if space == "expression":
            n = self.adata.n_obs
            rng = np.random.default_rng(0)
            panel = np.sort(rng.choice(n, size=min(PANEL_SIZE, n), replace=False))
            logits = self._decoded(self.get_latent_representation(indices=panel))
            logits -= logits.mean(0, keepdims=True)
            return pd.DataFrame(logits.T, index=genes, columns=self.adata.obs_names[panel])
        columns, before, after, _ = self._reactome_points(measured_only=True)
        change = self._decoded(after) - self._decoded(before)
        return pd.DataFrame(change.T, index=genes, columns=columns)

    def get_gene_embedding(self) -> pd.DataFrame:
        """Gene embeddings in the space shared by all species, as the decoder reads them.

        A gene's embedding matters only through the decoder, so it is given in the
        decoder's terms: coordinates whose inner products are those of the genes' decoded
        expression profiles (``gene_profiles("expression")``). The cosine of two genes is
        the correlation of their decoded expression over samples of all species, and
        directions no loss reads carry nothing. Nothing is written: store it with
        ``adata.varm["uge_gene_embedding"] = model.get_gene_embedding().to_numpy()``.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``var_names``, ``d_model`` columns (``uge_0``, ...).
        """
        profiles = self.gene_profiles("expression").to_numpy()
        u, s, _ = np.linalg.svd(profiles, full_matrices=False)
        k = self.module.embedding.gene.weight.shape[1]
        emb = (u[:, :k] * s[:k]).astype(np.float32)
        if emb.shape[1] < k:
            emb = np.pad(emb, ((0, 0), (0, k - emb.shape[1])))
        return pd.DataFrame(emb, index=self.adata.var_names, columns=[f"uge_{i}" for i in range(k)])

    def map_genes(
        self,
        source_species: str,
        target_species: str,
        genes: Sequence[str] | None = None,
        top_k: int = 10,
        space: Space = "expression",
    ) -> pd.DataFrame:
        """Map genes of one species to their functional partners in another.

        Genes are compared in the learned gene space by the cosine similarity of their
        profiles (:meth:`gene_profiles`): by default their decoded expression over samples
        of all species (the cosine of :meth:`get_gene_embedding`); ``space="reactome"``
        compares the model's own reactomes instead (each gene's decoded response to every
        condition in every label; informative with many label x condition columns). Genes
        aligned in training (ortholog prior and reactome matches, see ``gene_alignment``)
        share most of their embedding, so they score near 1 unless their data pulled them
        apart; genes outside the alignment find partners through what the model learned
        from their data.

        Parameters
        ----------
        source_species, target_species
            Species to map from and to.
        genes
            Source genes to map (``var_names`` or the species' own names in
            ``var["gene"]``); ``None`` for all.
        top_k
            Target genes kept per source gene.
        space
            ``"expression"`` or ``"reactome"`` (see :meth:`gene_profiles`).

        Returns
        -------
        pandas.DataFrame
            ``source_gene``, ``target_gene`` (``var_names``), ``score`` (cosine in [-1, 1];
            a best score below about 0.5 says "no clear partner", see ``docs/model.md``),
            ``rank`` (1 = best) and ``in_prior`` (the pair is in the ortholog prior).
        """
        self._check_species(source_species, "source_species")
        self._check_species(target_species, "target_species")
        if source_species == target_species:
            raise ValueError("source_species and target_species must differ.")
        tgt = self._genes_of(target_species)
        src = self._genes_of(source_species, genes)
        profiles = self.gene_profiles(space)
        scores = cosine(profiles.loc[src].to_numpy(), profiles.loc[tgt].to_numpy())
        return top_k_table(scores, src, tgt, top_k, prior=self._prior_names())

    def _prior_names(self) -> set[tuple[str, str]]:
        names = self.adata.var_names
        return {(names[a], names[b]) for a, b in self.prior_pairs_} | {
            (names[b], names[a]) for a, b in self.prior_pairs_
        }
