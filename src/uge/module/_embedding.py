from __future__ import annotations

from itertools import pairwise

import torch
from torch import nn


class GeneEmbedding(nn.Module):
    """The gene table shared by all species; paired genes are anchored on their partners.

    A gene of a later species that has partners in earlier species (ortholog pairs) is
    embedded as the mean of its partners' embeddings plus a residual of its own, which
    starts at zero and is penalised (:meth:`residual_penalty`). What one species' data
    teach a gene (e.g. its response to a drug measured only in mouse) so reaches its
    partners in the other species, and a residual grows only where a species' own data
    demand it. Genes without partners are free.

    Parameters
    ----------
    gene_species
        ``(G,)`` species id of every gene.
    d_model
        Embedding dimension.
    pairs
        ``(P, 2)`` gene ids of cross-species pairs, in either order; ``None`` for none.
    rank
        ``(G,)`` order in which genes are anchored: of two paired genes, the one of higher
        rank is anchored on the other. ``None``: the species id (a gene of a later species
        is anchored on its partners in earlier ones). Genes added to a trained model
        (:meth:`uge.UGE.load_query_data`) rank after all trained genes, so that trained
        genes keep their embeddings.
    """

    def __init__(
        self,
        gene_species: torch.Tensor,
        d_model: int,
        pairs: torch.Tensor | None = None,
        rank: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        n_genes = len(gene_species)
        self.weight = nn.Parameter(torch.randn(n_genes, d_model) * 0.1)
        pairs = torch.zeros(0, 2, dtype=torch.long) if pairs is None else pairs.long()
        rank = gene_species.long() if rank is None else rank.long()
        a, b = pairs[:, 0], pairs[:, 1]
        a_first = rank[a] < rank[b]
        src, dst = torch.where(a_first, a, b), torch.where(a_first, b, a)
        keep = gene_species[src] != gene_species[dst]
        src, dst = src[keep], dst[keep]
        count = torch.zeros(n_genes).index_add_(0, dst, torch.ones(len(dst)))
        order = torch.argsort(rank[dst], stable=True)
        self.register_buffer("src", src[order], persistent=False)
        self.register_buffer("dst", dst[order], persistent=False)
        self.register_buffer("pair_weight", 1.0 / count[dst[order]], persistent=False)
        # pairs grouped by the rank of the anchored gene, as Python slices: no device sync
        # per step
        ends = [0, *torch.cumsum(torch.bincount(rank[dst[order]]), 0).tolist()]
        self._levels = [slice(a, b) for a, b in pairwise(ends) if b > a]
        self.register_buffer("anchored_ids", torch.where(count > 0)[0], persistent=False)
        with torch.no_grad():
            self.weight[self.anchored_ids] = 0.0

    def forward(self) -> torch.Tensor:
        """Return the ``(G, d_model)`` embeddings of all genes."""
        table = self.weight
        # ranks in order: a gene's partners of lower rank are final when it is reached
        for sel in self._levels:
            anchor = table[self.src[sel]] * self.pair_weight[sel, None]
            table = table.index_add(0, self.dst[sel], anchor)
        return table

    def residual_penalty(self) -> torch.Tensor:
        """Squared norm of anchored genes' residuals relative to that of their anchors."""
        if not len(self.anchored_ids):
            return self.weight.new_zeros(())
        residual = self.weight[self.anchored_ids]
        anchor = (self() - self.weight)[self.anchored_ids]
        return residual.pow(2).sum() / anchor.detach().pow(2).sum().clamp_min(1e-12)


class TokenEmbedding(nn.Module):
    """Input embedding of UGE (paper 3.1-3.2).

    Every gene token is embedded as ``gene embedding + expression-value embedding +
    external-token embedding``; the sequence is prefixed with a ``<cls>`` token and a
    species token (plus the batch, when one is registered). The ``<cls>`` token starts
    from a learned vector plus the sample's relative expression values weighting its gene
    embeddings, so the sample summary is comparable across species from the first step.

    Parameters
    ----------
    gene_species
        ``(G,)`` species id of every gene (all species' genes together).
    n_species
        Number of species.
    n_external
        Number of external-token categories (e.g. control and each drug); 0 for none.
    n_batch
        Number of batches; 1 for none.
    d_model
        Embedding dimension.
    pairs
        ``(P, 2)`` gene ids of cross-species pairs that anchor each other (see
        :class:`GeneEmbedding`); ``None`` for none.
    gene_rank
        ``(G,)`` anchoring order of the genes (:class:`GeneEmbedding`'s ``rank``).
    """

    def __init__(
        self,
        gene_species: torch.Tensor,
        n_species: int,
        n_external: int,
        n_batch: int,
        d_model: int,
        pairs: torch.Tensor | None = None,
        gene_rank: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.gene = GeneEmbedding(gene_species, d_model, pairs, gene_rank)
        self.value = nn.Sequential(nn.Linear(1, d_model), nn.GELU(), nn.Linear(d_model, d_model))
        self.external = nn.Embedding(n_external, d_model) if n_external > 0 else None
        self.species = nn.Embedding(n_species, d_model)
        self.batch = nn.Embedding(n_batch, d_model) if n_batch > 1 else None
        # context tokens start neutral (species-, condition- and batch-agnostic) and grow
        # only as far as they help reconstruction
        for emb in (self.external, self.species, self.batch):
            if emb is not None:
                nn.init.zeros_(emb.weight)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)

    def forward(
        self,
        genes: torch.Tensor,
        values: torch.Tensor,
        species: torch.Tensor,
        external: torch.Tensor | None = None,
        batch: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Embed a batch of token sequences.

        Parameters
        ----------
        genes
            ``(B, M)`` gene-token ids.
        values
            ``(B, M)`` expression values of those genes (log-normalised).
        species
            ``(B,)`` species ids.
        external
            ``(B,)`` per-sample or ``(B, M)`` per-gene external-token ids.
        batch
            ``(B,)`` batch ids.

        Returns
        -------
        torch.Tensor
            ``(B, M + 2, D)`` embeddings: ``<cls>``, species, then the gene tokens.
        """
        gene = self.gene()[genes]
        tokens = gene + self.value(values.unsqueeze(-1))
        if self.external is not None and external is not None:
            ext = self.external(external)
            tokens = tokens + (ext.unsqueeze(1) if ext.dim() == 2 else ext)
        head = self.species(species)
        if self.batch is not None and batch is not None:
            head = head + self.batch(batch)
        # the <cls> token starts from the expression-weighted sum of the sample's gene
        # embeddings: a direct summary that aligned genes make comparable across species
        summary = (values.unsqueeze(-1) * gene).sum(1) / genes.shape[1] ** 0.5
        cls = self.cls.squeeze(0) + summary
        return torch.cat([cls.unsqueeze(1), head.unsqueeze(1), tokens], dim=1)
