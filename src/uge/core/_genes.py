"""A species' genes in a multi-species AnnData: by species, or by the names a user gives."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def species_genes(var: pd.DataFrame, species_key: str, name: str, what: str) -> pd.Index:
    """The ``var_names`` of one species, or an error naming the species present."""
    if species_key not in var:
        raise KeyError(f"adata.var[{species_key!r}] not found; pass the right `species_key`.")
    sp = var[species_key].astype(str)
    if name not in set(sp):
        raise ValueError(f"{what}={name!r} is not a species of adata; found {sorted(set(sp))}.")
    return var.index[(sp == name).to_numpy()]


def genes_of(
    var: pd.DataFrame, species_key: str, species: str, genes: Sequence[str] | None = None
) -> pd.Index:
    """``var_names`` of ``species``' genes: all of them, or those named in ``genes``.

    ``genes`` may give ``var_names`` or the species' own names (``var["gene"]``); a name
    that is neither raises a ``KeyError`` naming it.
    """
    own = var.index[(var[species_key].astype(str) == species).to_numpy()]
    if genes is None:
        return own
    genes = [genes] if isinstance(genes, str) else list(genes)
    names = var.loc[own, "gene"].astype(str) if "gene" in var else pd.Series(own, own)
    by_name = pd.Series(names.index, index=names.to_numpy())
    by_name = by_name[~by_name.index.duplicated()]
    picked = [g if g in own else by_name.get(g) for g in genes]
    missing = [g for g, p in zip(genes, picked, strict=True) if p is None]
    if missing:
        raise KeyError(
            f"{len(missing)} genes are not {species} genes of the model, e.g. "
            f"{missing[:5]}; pass var_names or names of var['gene']."
        )
    return pd.Index(picked)


def species_of_genes(
    var: pd.DataFrame, species_key: str, species: Sequence[str], genes: Sequence[str]
) -> tuple[str, pd.Index]:
    """The one species of ``species`` that all ``genes`` belong to, and their ``var_names``."""
    genes = [genes] if isinstance(genes, str) else list(genes)
    found = {}
    for sp in species:
        try:
            found[sp] = genes_of(var, species_key, sp, genes)
        except KeyError:
            continue
    if len(found) != 1:
        raise KeyError(
            f"genes must all be genes of one species of the model ({list(species)}); "
            f"e.g. {genes[:3]} are not (pass var_names or names of var['gene'])."
        )
    return next(iter(found.items()))
