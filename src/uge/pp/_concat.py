from __future__ import annotations

import logging
from collections.abc import Mapping

import anndata as ad
import pandas as pd

logger = logging.getLogger(__name__)


def concat_species(
    adatas: Mapping[str, ad.AnnData],
    species_key: str = "species",
    gene_key: str = "gene",
) -> ad.AnnData:
    """Combine one AnnData per species into the single AnnData that UGE trains on.

    Species keep their own gene vocabularies: the result has the union of all
    species' genes, and every sample carries values only for the genes of its
    own species (the other species' genes are stored as zeros and are never
    read by the model).

    Parameters
    ----------
    adatas
        Mapping from species name (e.g. ``"mouse"``) to that species' AnnData,
        whose ``var_names`` are the species' own gene names.
    species_key
        Column written to ``obs`` and ``var`` with the species of each sample
        and each gene.
    gene_key
        Column written to ``var`` with the species' own gene name.

    Returns
    -------
    anndata.AnnData
        One AnnData with ``obs[species_key]``, ``var[species_key]``,
        ``var[gene_key]`` and ``var_names`` of the form ``"<species>:<gene>"``.
        ``X`` and the layers present in every input are stacked block-diagonally
        (sparse inputs stay sparse). ``obs`` columns are kept (union over species),
        ``var`` columns are kept per gene. Sample names that occur in more than one
        species are made unique by prefixing ``"<species>:"``. The inputs are not
        modified.

    Examples
    --------
    >>> adata = uge.pp.concat_species({"mouse": adata_mouse, "rat": adata_rat})
    >>> adata.var[["species", "gene"]].head()
    """
    if not isinstance(adatas, Mapping) or len(adatas) == 0:
        raise ValueError(
            "concat_species expects a non-empty mapping {species name: AnnData}, "
            f"got {type(adatas).__name__}."
        )
    parts = []
    for species, adata in adatas.items():
        if not isinstance(species, str) or not species:
            raise ValueError(f"Species names must be non-empty strings, got {species!r}.")
        if not isinstance(adata, ad.AnnData):
            raise TypeError(
                f"adatas[{species!r}] is a {type(adata).__name__}, expected an AnnData."
            )
        if adata.n_obs == 0 or adata.n_vars == 0:
            raise ValueError(
                f"adatas[{species!r}] has shape {adata.shape}: every species needs at least "
                "one sample and one gene."
            )
        dup = adata.var_names[adata.var_names.duplicated()]
        if len(dup):
            raise ValueError(
                f"adatas[{species!r}] has {len(dup)} duplicated gene names (e.g. {dup[0]!r}). "
                "Make them unique first, e.g. with `adata.var_names_make_unique()`."
            )
        if species_key in adata.obs and (adata.obs[species_key].astype(str) != species).any():
            raise ValueError(
                f"adatas[{species!r}].obs[{species_key!r}] exists and holds other values than "
                f"{species!r}. Drop or rename that column, or pass another `species_key`."
            )
        part = adata.copy()
        part.var[gene_key] = part.var_names.astype(str)
        part.var[species_key] = species
        part.var_names = species + ":" + part.var_names.astype(str)
        part.obs[species_key] = species
        parts.append(part)

    obs_names = pd.Index([n for p in parts for n in p.obs_names])
    if obs_names.has_duplicates:
        n_dup = int(obs_names.duplicated().sum())
        logger.info(
            "%d sample names occur in more than one species; prefixing all sample names "
            "with '<species>:' to keep them unique.",
            n_dup,
        )
        for species, part in zip(adatas, parts, strict=True):
            part.obs_names = species + ":" + part.obs_names.astype(str)

    out = ad.concat(parts, axis=0, join="outer", fill_value=0)
    out.var = pd.concat([p.var for p in parts]).loc[out.var_names]
    species_order = list(adatas)
    out.obs[species_key] = pd.Categorical(out.obs[species_key], categories=species_order)
    out.var[species_key] = pd.Categorical(out.var[species_key], categories=species_order)
    return out
