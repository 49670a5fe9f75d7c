from __future__ import annotations

import torch
from torch import nn


class TokenEmbedding(nn.Module):
    """Input embedding of UGE (paper 3.1-3.2).

    Every gene token is embedded as ``gene embedding + expression-value embedding +
    external-token embedding``; the sequence is prefixed with a ``<cls>`` token and a
    species token (plus the batch, when one is registered). The ``<cls>`` token starts
    from a learned vector plus the sample's relative expression values weighting its gene
    embeddings, so the sample summary is comparable across species from the first step.

    Parameters
    ----------
    n_genes
        Size of the gene vocabulary (all species' genes together).
    n_species
        Number of species.
    n_external
        Number of external-token categories (e.g. control and each drug); 0 for none.
    n_batch
        Number of batches; 1 for none.
    d_model
        Embedding dimension.
    """

    def __init__(
        self, n_genes: int, n_species: int, n_external: int, n_batch: int, d_model: int
    ) -> None:
        super().__init__()
        self.gene = nn.Embedding(n_genes, d_model)
        nn.init.normal_(self.gene.weight, std=0.1)
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
        tokens = self.gene(genes) + self.value(values.unsqueeze(-1))
        if self.external is not None and external is not None:
            ext = self.external(external)
            tokens = tokens + (ext.unsqueeze(1) if ext.dim() == 2 else ext)
        head = self.species(species)
        if self.batch is not None and batch is not None:
            head = head + self.batch(batch)
        # the <cls> token starts from the expression-weighted sum of the sample's gene
        # embeddings: a direct summary that aligned genes make comparable across species
        summary = (values.unsqueeze(-1) * self.gene(genes)).sum(1) / genes.shape[1] ** 0.5
        cls = self.cls.squeeze(0) + summary
        return torch.cat([cls.unsqueeze(1), head.unsqueeze(1), tokens], dim=1)
