"""Ortholog tables as gene-index pairs, shared by the model and the baselines."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def ortholog_pairs(
    orthologs: pd.DataFrame | dict | None,
    var: pd.DataFrame,
    species_key: str,
    species: list[str],
    gene_key: str = "gene",
) -> np.ndarray:
    """Turn an ortholog table into ``(P, 2)`` gene-index pairs.

    ``orthologs`` has one column per species (named by species) holding that species' own
    gene names, one row per pair; other columns are ignored. Pairs naming genes absent from
    the data are dropped and counted in a log message.
    """
    if orthologs is None:
        return np.zeros((0, 2), dtype=np.int64)
    table = pd.DataFrame(orthologs)
    if len(species) == 1:
        raise ValueError(
            f"The data hold one species ({species[0]!r}): an ortholog table pairs genes of "
            "different species, so pass orthologs=None."
        )
    cols = [c for c in table.columns if c in species]
    if len(cols) < 2:
        raise ValueError(
            "`orthologs` needs one column per species, named by species, holding each "
            f"species' own gene names. Found columns {list(table.columns)}; the model's "
            f"species are {species}."
        )
    names = var[gene_key].astype(str) if gene_key in var else pd.Series(var.index, index=var.index)
    index = pd.Series(
        np.arange(len(var)),
        index=pd.MultiIndex.from_arrays([var[species_key].astype(str), names.astype(str)]),
    )
    index = index[~index.index.duplicated()]
    pairs, n_rows, n_kept = [], 0, 0
    for i, a in enumerate(cols):
        for b in cols[i + 1 :]:
            sub = table[[a, b]].dropna()
            n_rows += len(sub)
            ia = index.reindex(pd.MultiIndex.from_arrays([[a] * len(sub), sub[a].astype(str)]))
            ib = index.reindex(pd.MultiIndex.from_arrays([[b] * len(sub), sub[b].astype(str)]))
            ok = ia.notna().to_numpy() & ib.notna().to_numpy()
            n_kept += int(ok.sum())
            pairs.append(np.stack([ia.to_numpy()[ok], ib.to_numpy()[ok]], 1).astype(np.int64))
    out = np.unique(np.concatenate(pairs), axis=0)
    logger.info(
        "Ortholog prior: %d gene pairs used; %d of %d table rows dropped because they name "
        "genes absent from the data.",
        len(out),
        n_rows - n_kept,
        n_rows,
    )
    if len(out) == 0:
        warnings.warn(
            f"None of the {n_rows} ortholog pairs name genes in the data (compare the table's "
            f"gene names with adata.var[{gene_key!r}]); training without an ortholog prior.",
            UserWarning,
            stacklevel=3,
        )
    return out
