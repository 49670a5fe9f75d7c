"""Writing results into a user's AnnData, when the caller asks for it (``key_added``)."""

from __future__ import annotations

import anndata as ad
import numpy as np

from uge._constants import UNS_KEY


def write_rows_layer(
    adata: ad.AnnData, key: str, rows: np.ndarray, cols: np.ndarray, values: np.ndarray
) -> None:
    """``adata.layers[key]``: ``values`` at ``rows`` × ``cols``, 0 on the other genes of
    those rows (another species' genes) and NaN on every other row (not predicted)."""
    full = np.full(adata.shape, np.nan, dtype=np.float32)
    full[rows] = 0.0
    full[np.ix_(rows, cols)] = values
    adata.layers[key] = full


def write_params(adata: ad.AnnData, key: str, params: dict, **results) -> None:
    """``adata.uns["uge"][key]``: the call's ``params`` (as scanpy's ``uns[key]["params"]``)
    and any further ``results``."""
    adata.uns.setdefault(UNS_KEY, {})[key] = {"params": params, **results}


def result_params(adata: ad.AnnData, key: str, fix: str) -> dict:
    """The ``params`` of the result written under ``key`` (:func:`write_params`), or an
    error that names the key and ``fix`` (how to compute the result)."""
    try:
        return adata.uns[UNS_KEY][key]["params"]
    except (KeyError, TypeError):
        raise KeyError(f"No result under key {key!r} in adata.uns['uge']: {fix}.") from None
