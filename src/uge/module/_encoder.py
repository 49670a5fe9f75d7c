from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Block(nn.Module):
    """Pre-norm transformer block on :func:`torch.nn.functional.scaled_dot_product_attention`."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, ff_mult: int = 2) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}.")
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, ff_mult * d_model),
            nn.GELU(),
            nn.Linear(ff_mult * d_model, d_model),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor:
        b, length, d = h.shape
        qkv = self.qkv(self.norm1(h)).view(b, length, 3, self.n_heads, d // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        mask = None if keep is None else keep[:, None, None, :]
        # no attention dropout: it forces the slow reference kernel on CPU
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        h = h + self.drop(self.proj(attn.transpose(1, 2).reshape(b, length, d)))
        return h + self.drop(self.ff(self.norm2(h)))


class TransformerEncoder(nn.Module):
    """Stack of transformer blocks (paper 3.3) returning the ``<cls>`` output (paper 3.4).

    Parameters
    ----------
    d_model
        Token dimension.
    n_layers
        Number of transformer blocks.
    n_heads
        Attention heads per block.
    dropout
        Dropout in attention and feed-forward layers.
    """

    def __init__(self, d_model: int, n_layers: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, h: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Encode ``(B, L, D)`` tokens; ``keep`` is a ``(B, L)`` mask of non-padding tokens."""
        if keep is not None and bool(keep.all()):
            keep = None  # no padding: lets SDPA use its fused kernel
        for block in self.blocks:
            h = block(h, keep)
        return self.norm(h[:, 0])
