"""Similarities of gene profiles and the top-k table every gene mapping returns."""

from __future__ import annotations

import numpy as np
import pandas as pd


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of the rows of ``a`` with the rows of ``b`` (zero rows give 0)."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=1, keepdims=True).clip(1e-12)
    return a @ b.T


def response_similarity(a: np.ndarray, b: np.ndarray, paired: bool = False) -> np.ndarray:
    """``2 <a, b> / (|a|² + |b|²)`` of the rows of ``a`` and ``b``: 1 for equal responses.

    Unlike the cosine it tells responses of the same direction but another size apart
    (two genes that go up 2-fold and 8-fold under the same drugs are not the same
    response); it is ``1 - |a - b|² / (|a|² + |b|²)``, in [-1, 1]. All rows of ``a``
    against all of ``b`` (``len(a) × len(b)``), or row ``i`` against row ``i`` only with
    ``paired=True``.
    """
    na, nb = (a**2).sum(1), (b**2).sum(1)
    if paired:
        return 2 * (a * b).sum(1) / np.maximum(na + nb, 1e-12)
    return 2 * (a @ b.T) / np.maximum(na[:, None] + nb[None, :], 1e-12)


def top_k_table(
    scores: np.ndarray,
    source: pd.Index,
    target: pd.Index,
    top_k: int,
    prior: set | None = None,
) -> pd.DataFrame:
    """Long table of each source gene's ``top_k`` target genes by ``scores`` (source × target)."""
    if not isinstance(top_k, int | np.integer) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
    k = min(int(top_k), scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(len(source)), k)
    cols = order.ravel()
    out = pd.DataFrame(
        {
            "source_gene": source[rows].to_numpy(),
            "target_gene": target[cols].to_numpy(),
            "score": scores[rows, cols],
            "rank": np.tile(np.arange(1, k + 1), len(source)),
        }
    )
    if prior is not None:
        out["in_prior"] = [
            (s, t) in prior for s, t in zip(out["source_gene"], out["target_gene"], strict=True)
        ]
    return out
