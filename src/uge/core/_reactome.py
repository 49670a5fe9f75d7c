"""Reactome computation: per gene, its log fold change in each (label, condition) group."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from uge._constants import SEP, UNS_KEY

from ._checks import check_expression
from ._chunks import row_chunks
from ._normalise import log_normalise

PSEUDOCOUNT = 0.1  # counts per 10k added to group means before the log


def group_moments(
    x, rows: np.ndarray, cols: np.ndarray, groups: np.ndarray, counts: bool
) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
    """Per group of samples, the mean and mean square of each gene's expression.

    Over the samples ``rows`` (``groups`` holds their groups) and genes ``cols`` of ``x``
    (dense, sparse or backed), in counts per 10k of the samples' totals over all genes
    (``counts``) or as the values are. ``x`` is read in chunks of rows
    (:func:`uge.core.row_chunks`) and never densified.

    Returns the group names, the ``(n_groups, n_genes)`` means and mean squares, and the
    group sizes.
    """
    codes, names = pd.factorize(pd.Series(groups), sort=True)
    sums, squares = np.zeros((2, len(names), len(cols)))
    for idx, block in row_chunks(x, rows):
        block = log_normalise(block, counts, log=False)[:, cols]
        part = codes[np.searchsorted(rows, idx)]
        onehot = sparse.csr_matrix(
            (np.ones(len(part)), (part, np.arange(len(part)))), shape=(len(names), len(part))
        )
        power = block.multiply(block) if sparse.issparse(block) else block**2
        for total, values in ((sums, block), (squares, power)):
            add = onehot @ values
            total += add.toarray() if sparse.issparse(add) else np.asarray(add)
    sizes = np.bincount(codes, minlength=len(names)).astype(np.float64)
    return pd.Index(names), sums / sizes[:, None], squares / sizes[:, None], sizes


def compute_reactome(
    adata: ad.AnnData,
    species_key: str,
    labels_key: str | None,
    condition_key: str | None,
    control_condition: str,
    layer: str | None,
    min_samples: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reactome table of :func:`uge.tl.reactome` and the standard error of every entry.

    Arguments as in :func:`uge.tl.reactome`. Standard errors are those of the difference
    of the two group means (for counts, of their logs, by the delta method); NaN where a
    group has a single sample.
    """
    obs, var = adata.obs, adata.var
    for key, frame, where in (
        (species_key, obs, "obs"),
        (species_key, var, "var"),
        (labels_key, obs, "obs"),
        (condition_key, obs, "obs"),
    ):
        if key is not None and key not in frame:
            raise KeyError(f"adata.{where}[{key!r}] not found; pass the right key.")
    if labels_key is None and condition_key is None:
        raise ValueError(
            "A reactome needs labels (labels_key, e.g. organ or cell type), conditions "
            "(condition_key, e.g. drug) or both."
        )
    if not isinstance(min_samples, int | np.integer) or min_samples < 1:
        raise ValueError(f"min_samples must be an integer >= 1, got {min_samples!r}.")
    x = adata.X if layer is None else adata.layers[layer]
    counts = check_expression(x, "adata.X" if layer is None else f"layer {layer!r}")
    species = obs[species_key].astype(str).to_numpy()
    gene_species = var[species_key].astype(str).to_numpy()
    labels = obs[labels_key].astype(str).to_numpy() if labels_key else np.full(len(obs), "all")
    if condition_key is not None:
        cond = obs[condition_key].astype(str).to_numpy()
        if not (cond == control_condition).any():
            raise ValueError(
                f"No sample has {condition_key}={control_condition!r}: the reactome compares "
                "each condition with the control. Pass the right `control_condition`."
            )
        groups = np.char.add(np.char.add(labels.astype(str), SEP), cond.astype(str))
        columns = sorted({g for g, c in zip(groups, cond, strict=True) if c != control_condition})
    else:
        cond = None
        groups = labels
        columns = sorted(set(labels))
    out = np.full((adata.n_vars, len(columns)), np.nan)
    err = np.full_like(out, np.nan)
    col_pos = {c: i for i, c in enumerate(columns)}
    for sp in np.unique(species):
        rows, cols = np.flatnonzero(species == sp), np.flatnonzero(gene_species == sp)
        if not len(cols):
            continue
        names, means, squares, sizes = group_moments(x, rows, cols, groups[rows], counts)
        var_ = np.maximum(squares - means**2, 0.0)
        # a group of one sample (e.g. an atlas's organ mean) has no standard error
        se2 = np.where(sizes[:, None] > 1, var_ / np.maximum(sizes - 1, 1)[:, None], np.nan)
        if counts:  # delta method for the log of the mean
            se2 = se2 / (means + PSEUDOCOUNT) ** 2
            means = np.log(means + PSEUDOCOUNT)
        ok = sizes >= min_samples
        means = pd.DataFrame(means[ok], index=names[ok])
        se2 = pd.DataFrame(se2[ok], index=names[ok])
        for name in means.index:
            if cond is None:
                # the label's profile, centred on the gene's mean over the measured labels
                value, var2 = means.loc[name] - means.mean(axis=0), se2.loc[name]
            else:
                lab, c = name.rsplit(SEP, 1)
                ctrl = f"{lab}{SEP}{control_condition}"
                if c == control_condition or ctrl not in means.index:
                    continue
                value, var2 = means.loc[name] - means.loc[ctrl], se2.loc[name] + se2.loc[ctrl]
            # a change shared by most genes is the compositional effect of normalising to
            # a total count, not a response: centre each column on its median gene
            out[cols, col_pos[name]] = value.to_numpy() - np.median(value.to_numpy())
            err[cols, col_pos[name]] = np.sqrt(var2.to_numpy())
    if not columns or np.isnan(out).all():
        raise ValueError(
            f"No group has {min_samples} samples (and, with conditions, a control of the same "
            "species and label): no reactome column could be measured. Lower `min_samples` "
            "or check the keys."
        )
    table = pd.DataFrame(out, index=adata.var_names, columns=columns)
    return table, pd.DataFrame(err, index=adata.var_names, columns=columns)


def reactome_frame(adata: ad.AnnData, key: str) -> pd.DataFrame:
    """The reactome written by :func:`uge.tl.reactome` under ``key``, as a DataFrame."""
    if key not in adata.varm:
        raise KeyError(
            f"adata.varm[{key!r}] not found: compute it first with uge.tl.reactome(adata, ...)."
        )
    columns = adata.uns.get(UNS_KEY, {}).get(key, {}).get("columns")
    values = np.asarray(adata.varm[key], dtype=np.float64)
    columns = list(columns) if columns is not None else list(range(values.shape[1]))
    return pd.DataFrame(values, index=adata.var_names, columns=columns)
