"""The one log-normalisation of uge: ``log1p(counts per 10k)``, sparse kept sparse."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from uge._constants import TARGET_SUM


def log_normalise(x, counts: bool, log: bool = True):
    """Sparse-preserving ``log1p(counts per 10k)`` of counts (``log=False``: counts per 10k);
    the values themselves otherwise."""
    if not counts:
        return x
    totals = np.asarray(x.sum(1)).ravel()
    scale = TARGET_SUM / np.maximum(totals, 1.0)
    if sparse.issparse(x):
        out = sparse.csr_matrix(sparse.diags(scale) @ x, dtype=np.float64)
        if log:
            out.data = np.log1p(out.data)
        return out
    out = np.asarray(x, dtype=np.float64) * scale[:, None]
    return np.log1p(out) if log else out
