"""Rows of an expression matrix chunk by chunk: dense, sparse or backed, never whole."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from anndata.abc import CSCDataset, CSRDataset
from scipy import sparse

CHUNK_ROWS = 10_000  # most rows read at once
CHUNK_VALUES = 2**24  # most values of a dense chunk (128 MiB as float64)


def is_sparse(x: Any) -> bool:
    """Whether ``x`` is a scipy sparse matrix or a backed sparse dataset (anndata)."""
    return sparse.issparse(x) or isinstance(x, CSRDataset | CSCDataset)


def row_chunks(
    x: Any,
    rows: np.ndarray | None = None,
    cols: np.ndarray | None = None,
    chunk_rows: int | None = None,
) -> Iterator[tuple[np.ndarray, Any]]:
    """Yield ``(rows, x[rows][:, cols])`` for consecutive chunks of ``rows``.

    Parameters
    ----------
    x
        Dense array, scipy sparse matrix, or a backed AnnData's ``X`` or layer
        (``h5py.Dataset``, anndata's sparse dataset).
    rows
        Increasing row indices; all rows when ``None``.
    cols
        Columns to keep; all when ``None``.
    chunk_rows
        Most rows per chunk (``None``: ``CHUNK_ROWS``); dense chunks also hold at most
        ``CHUNK_VALUES`` values.

    Yields
    ------
    tuple
        The chunk's row indices and its block: CSR sparse for sparse ``x``, a dense
        array otherwise, in ``x``'s dtype. Memory is bounded by the chunk, not by ``x``.
    """
    rows = np.arange(x.shape[0]) if rows is None else np.asarray(rows)
    chunk_rows = CHUNK_ROWS if chunk_rows is None else chunk_rows
    if not is_sparse(x):
        chunk_rows = max(1, min(chunk_rows, CHUNK_VALUES // max(x.shape[1], 1)))
    for start in range(0, len(rows), chunk_rows):
        idx = rows[start : start + chunk_rows]
        if idx[-1] - idx[0] + 1 == len(idx):  # contiguous: a slice reads fastest
            block = x[int(idx[0]) : int(idx[-1]) + 1]
        else:
            block = x[idx]
        if sparse.issparse(block):
            block = sparse.csr_matrix(block)
            if cols is not None:
                block = block[:, cols]
        else:
            block = np.asarray(block)
            if cols is not None:
                block = block[:, cols]
        yield idx, block
