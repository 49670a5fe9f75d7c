from __future__ import annotations

import torch
from torch import nn


class ReactomeAlignedDecoder(nn.Module):
    """Decode expression of any species' genes from a latent and the shared gene embeddings.

    The logit of gene ``g`` for a sample with latent ``z`` is
    ``<f(z), W e_g> + b_g``, where ``e_g`` is ``g``'s embedding in the gene space shared by
    all species (the same table the encoder's gene tokens use) and ``b_g`` the gene's
    baseline. Genes with aligned embeddings are therefore decoded alike, whatever their
    species, and one latent can be decoded into the genes of any species.

    Parameters
    ----------
    n_latent
        Latent dimension.
    d_model
        Gene-embedding dimension.
    n_genes
        Number of genes (all species).
    n_hidden
        Width of the hidden layer of ``f``.
    n_batch
        Number of batches; 1 for none.
    dropout
        Dropout rate in ``f``.
    """

    def __init__(
        self,
        n_latent: int,
        d_model: int,
        n_genes: int,
        n_hidden: int,
        n_batch: int = 1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.batch = nn.Embedding(n_batch, n_hidden) if n_batch > 1 else None
        self.inp = nn.Linear(n_latent, n_hidden)
        self.out = nn.Sequential(
            nn.LayerNorm(n_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(n_hidden, d_model)
        )
        self.gene_proj = nn.Linear(d_model, d_model, bias=False)
        self.gene_bias = nn.Parameter(torch.zeros(n_genes))

    def forward(
        self,
        z: torch.Tensor,
        gene_embedding: torch.Tensor,
        batch: torch.Tensor | None = None,
        genes: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return ``(B, G)`` logits of all genes, or ``(B, len(genes))`` of ``genes``.

        Parameters
        ----------
        z
            ``(B, n_latent)`` latents.
        gene_embedding
            ``(G, d_model)`` embeddings of all genes, or of ``genes`` (one row each).
        batch
            ``(B,)`` batch ids.
        genes
            Ids of the genes to decode (the rows of ``gene_embedding``); ``None`` for all.
        """
        h = self.inp(z)
        if self.batch is not None and batch is not None:
            h = h + self.batch(batch)
        h = self.out(h)
        bias = self.gene_bias if genes is None else self.gene_bias[genes]
        return h @ self.gene_proj(gene_embedding).T + bias
