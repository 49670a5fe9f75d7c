"""Minibatch expression, dense or sparse CSR: blocks of it without densifying the rest.

scvi-tools loads sparse data as a sparse CSR tensor when asked (``load_sparse_tensor``);
the module then reads only the entries it needs, so its cost grows with the detected
entries and the genes it decodes, not with all genes of all species.
"""

from __future__ import annotations

import warnings

import torch

# torch warns once per process that its sparse CSR support is "beta" and that invariant
# checks are off; the module uses only its stable basics (indices, values, to_dense)
for _message in ("Sparse CSR tensor support is in beta", "Sparse invariant checks are"):
    warnings.filterwarnings("ignore", message=_message, category=UserWarning)


def is_sparse_tensor(x: torch.Tensor) -> bool:
    """Whether ``x`` is a sparse CSR tensor."""
    return x.layout == torch.sparse_csr


def _entries(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row, column and value of every stored entry of a sparse CSR tensor."""
    crow = x.crow_indices()
    rows = torch.repeat_interleave(torch.arange(len(crow) - 1, device=x.device), crow.diff())
    return rows, x.col_indices(), x.values()


def block(x: torch.Tensor, cols: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
    """Dense ``x[rows][:, cols]`` (all rows for ``None``), for dense or sparse CSR ``x``.

    For sparse ``x`` only the stored entries are read: the cost is the number of entries
    plus the size of the block.
    """
    if not is_sparse_tensor(x):
        return x[:, cols] if rows is None else x[rows[:, None], cols[None, :]]
    r, c, v = _entries(x)
    n_rows, n_cols = x.shape
    col_pos = torch.full((n_cols,), -1, dtype=torch.long, device=x.device)
    col_pos[cols] = torch.arange(len(cols), device=x.device)
    r_new = r
    if rows is not None:
        row_pos = torch.full((n_rows,), -1, dtype=torch.long, device=x.device)
        row_pos[rows] = torch.arange(len(rows), device=x.device)
        r_new = row_pos[r]
    c_new = col_pos[c]
    keep = (c_new >= 0) & (r_new >= 0)
    out = v.new_zeros(n_rows if rows is None else len(rows), len(cols))
    # accumulate, as ``to_dense`` sums duplicate entries
    return out.index_put_((r_new[keep], c_new[keep]), v[keep], accumulate=True)


def own_species_sums(
    x: torch.Tensor, species: torch.Tensor, gene_species: torch.Tensor
) -> torch.Tensor:
    """``(B, 1)`` sum of each sample's values over the genes of its own species."""
    if not is_sparse_tensor(x):
        return (x * (gene_species[None, :] == species[:, None])).sum(1, keepdim=True)
    r, c, v = _entries(x)
    own = gene_species[c] == species[r]
    return v.new_zeros(x.shape[0]).index_add_(0, r[own], v[own]).unsqueeze(1)
