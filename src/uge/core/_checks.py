"""Checks of user input that raise an error naming the problem and the fix."""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from ._chunks import row_chunks


def scan_expression(x: Any, where: str = "adata.X") -> tuple[bool, float]:
    """Check an expression matrix chunk by chunk; return whether it holds counts, and its max.

    See :func:`check_expression`; also accepts a backed AnnData's matrix.
    """
    dtype = getattr(x, "dtype", None)
    if dtype is not None and not np.issubdtype(dtype, np.number):
        raise ValueError(f"{where} has dtype {dtype}; expected numbers.")
    n_bad, vmin, vmax, integer = 0, np.inf, -np.inf, True
    for _, block in row_chunks(x):
        values = block.data if sparse.issparse(block) else block.ravel()
        if not np.issubdtype(values.dtype, np.number):
            raise ValueError(f"{where} has dtype {values.dtype}; expected numbers.")
        finite = np.isfinite(values)
        n_bad += int(len(values) - finite.sum())
        if n_bad or not len(values):
            continue
        vmin, vmax = min(vmin, float(values.min())), max(vmax, float(values.max()))
        integer = integer and bool(np.all(np.mod(values, 1) == 0))
    if n_bad:
        raise ValueError(
            f"{where} contains {n_bad} NaN or infinite values. Remove or impute them before "
            "calling UGE.setup_anndata (e.g. `adata = adata[:, np.isfinite(adata.X).all(0)]`)."
        )
    if vmin < 0:
        raise ValueError(
            f"{where} contains negative values (min {vmin:.3g}). UGE needs raw counts "
            "or log-normalised expression (sc.pp.normalize_total + sc.pp.log1p); scaled or "
            "centred data (sc.pp.scale) cannot be used."
        )
    # implicit zeros of a sparse matrix count towards the max (an all-empty matrix has 0)
    return integer, max(vmax, 0.0) if np.isfinite(vmax) else 0.0


def check_expression(x: Any, where: str = "adata.X") -> bool:
    """Check an expression matrix and tell whether it holds integer counts.

    Reads the matrix in chunks of rows (:func:`uge.core.row_chunks`), never whole.

    Parameters
    ----------
    x
        Dense array, scipy sparse matrix, or a backed AnnData's ``X`` or layer.
    where
        How to name the matrix in error messages (e.g. ``"adata.layers['counts']"``).

    Returns
    -------
    bool
        ``True`` when every value is a non-negative integer (raw counts).

    Raises
    ------
    ValueError
        If the matrix holds NaN, infinite or negative values.
    """
    return scan_expression(x, where)[0]


def _check_key(frame: pd.DataFrame, key: str | None, where: str, arg: str) -> None:
    if key is not None and key not in frame.columns:
        raise KeyError(
            f"{where}[{key!r}] not found (passed as `{arg}`). Available columns: "
            f"{list(frame.columns)}. Add the column or pass the right `{arg}`."
        )


def validate_setup(
    adata: ad.AnnData,
    layer: str | None,
    species_key: str,
    labels_key: str | None = None,
    condition_key: str | None = None,
    control_condition: str | None = None,
    batch_key: str | None = None,
    training: bool = True,
) -> None:
    """Check an AnnData for :meth:`uge.UGE.setup_anndata`; raise a clear error on bad input.

    Checks the keys, unique gene names, that every species has samples and genes, and that
    the expression values are finite, non-negative and give every sample a non-zero total
    over its species' genes. With ``training=False`` (new data for a trained model) a species
    may have genes but no samples, and the control condition may be absent. Nothing is modified.
    """
    if not isinstance(adata, ad.AnnData):
        raise TypeError(f"Expected an AnnData, got {type(adata).__name__}.")
    if adata.var_names.has_duplicates:
        dup = adata.var_names[adata.var_names.duplicated()]
        raise ValueError(
            f"adata.var_names has {len(dup)} duplicated names (e.g. {dup[0]!r}). Build the "
            "AnnData with uge.pp.concat_species, which prefixes genes with their species, or "
            "call adata.var_names_make_unique()."
        )
    if species_key not in adata.obs.columns:
        raise KeyError(
            f"adata.obs[{species_key!r}] not found (passed as `species_key`). Build the AnnData "
            "with uge.pp.concat_species({'mouse': adata_mouse, 'rat': adata_rat}) or add the "
            "species of each sample to obs."
        )
    if species_key not in adata.var.columns:
        raise KeyError(
            f"adata.var[{species_key!r}] not found: UGE needs the species of every gene. Build "
            "the AnnData with uge.pp.concat_species, or add the species of each gene to var."
        )
    for key, arg in (
        (labels_key, "labels_key"),
        (condition_key, "condition_key"),
        (batch_key, "batch_key"),
    ):
        _check_key(adata.obs, key, "adata.obs", arg)
    for frame, where in ((adata.obs, "adata.obs"), (adata.var, "adata.var")):
        if frame[species_key].isna().any():
            raise ValueError(
                f"{where}[{species_key!r}] has {int(frame[species_key].isna().sum())} missing "
                "values; every sample and gene needs a species."
            )
    if condition_key is not None and training:
        conditions = adata.obs[condition_key].astype(str)
        if control_condition not in set(conditions):
            raise ValueError(
                f"control_condition={control_condition!r} not found in "
                f"adata.obs[{condition_key!r}] (values: {sorted(set(conditions))[:10]}). Pass "
                "the label of the untreated samples as `control_condition`."
            )
    if layer is not None and layer not in adata.layers:
        raise KeyError(
            f"adata.layers[{layer!r}] not found (passed as `layer`). Available layers: "
            f"{list(adata.layers)}; pass layer=None to use adata.X."
        )

    obs_species = adata.obs[species_key].astype(str)
    var_species = adata.var[species_key].astype(str)
    no_genes = sorted(set(obs_species) - set(var_species))
    if no_genes:
        raise ValueError(
            f"Species {no_genes} have samples in adata.obs[{species_key!r}] but no genes in "
            f"adata.var[{species_key!r}]. Every species needs its own genes."
        )
    no_samples = sorted(set(var_species) - set(obs_species))
    if no_samples and training:
        raise ValueError(
            f"Species {no_samples} have genes in adata.var[{species_key!r}] but no samples in "
            f"adata.obs[{species_key!r}]. Remove those genes or add samples of that species."
        )

    x = adata.X if layer is None else adata.layers[layer]
    where = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    if x is None:
        raise ValueError(f"{where} is empty; pass the layer that holds the expression values.")
    check_expression(x, where)
    for species in sorted(set(obs_species)):
        rows = np.flatnonzero((obs_species == species).to_numpy())
        cols = np.flatnonzero((var_species == species).to_numpy())
        empty = [np.zeros(0, dtype=np.int64)] + [
            idx[np.asarray(block.sum(1)).ravel() <= 0] for idx, block in row_chunks(x, rows, cols)
        ]
        empty = np.concatenate(empty)
        if len(empty):
            names = list(adata.obs_names[empty[:5]])
            raise ValueError(
                f"{len(empty)} {species} samples have zero total expression over the "
                f"{species} genes (e.g. {names}). Remove them, e.g. with "
                "sc.pp.filter_cells(adata, min_counts=1) on each species before concat_species."
            )


def check_positive_int(name: str, value) -> None:
    """Raise a clear error unless ``value`` is an integer of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def check_genes(var_names: pd.Index, model_genes: pd.Index, fix: str) -> None:
    """Raise an error giving the match rate when ``var_names`` are not the model's genes."""
    if var_names.equals(model_genes):
        return
    rate = model_genes.isin(var_names).mean()
    order = " (in another order)" if rate == 1 else ""
    raise ValueError(
        f"The genes of this AnnData do not match the model's: {rate:.1%} of the model's "
        f"{len(model_genes)} genes are present{order}. {fix}"
    )
