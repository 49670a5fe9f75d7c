"""Loaders of the cross-species stimulus and organ sets: Hagai 2018 fibroblasts, organ means."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from uge.pp import concat_species

from ._real import data_file, resolve_data_dir

#: Species of the fibroblast study and the conditions measured in each.
HAGAI_CONDITIONS = {
    "human": ("unst", "PIC8"),
    "rhesus": ("unst", "PIC2", "PIC4", "PIC8"),
    "rat": ("unst", "PIC8"),
    "mouse": ("PIC8",),
}
#: Organs measured in both the mouse (ENCODE) and the human (GTEx) atlas: the shared name,
#: then each atlas's column.
TISSUE_PAIRS = {
    "bone marrow": ("Bone.Marrow", None),
    "brain": ("Cortex", "Brain"),
    "heart": ("Heart", "Heart"),
    "intestine": ("Intestine", "Small.Intestine"),
    "kidney": ("Kidney", "Kidney"),
    "liver": ("Liver", "Liver"),
    "lung": ("Lung", "Lung"),
    "spleen": ("Spleen", "Spleen"),
    "testis": ("Testis", "Testis"),
}


def _hagai_cells(root: Path, species: str, condition: str) -> ad.AnnData:
    """One species and condition: cells x genes, counts rounded to integers."""
    path = data_file(root / f"counts_{species}_{condition}.csv.gz")
    table = pd.read_csv(path, sep="\t", header=None, index_col=0, low_memory=False)
    # genes only: the files also hold ERCC spike-ins, and one a header line
    table = table[table.index.astype(str).str.startswith("ENS")].astype(np.float64)
    table = table.groupby(level=0).sum()  # a gene ID listed twice is one gene
    table.index.name = None
    names = [f"{species}_{condition}_{i + 1:02d}" for i in range(table.shape[1])]
    obs = pd.DataFrame({"condition": condition}, index=names)
    x = sparse.csr_matrix(np.rint(table.to_numpy(np.float64).T).astype(np.float32))
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=table.index.astype(str)))


def load_hagai2018(
    data_dir: str | os.PathLike | None = None,
    species: Sequence[str] = tuple(HAGAI_CONDITIONS),
    concat: bool = True,
) -> ad.AnnData | dict[str, ad.AnnData]:
    """Hagai et al. 2018 dermal fibroblasts, unstimulated and under poly(I:C), four species.

    Reads ``hagai2018/counts_<species>_<condition>.csv.gz`` (Smart-seq2 counts, genes x
    cells, each species' own Ensembl IDs) and ``hagai2018/ortho.csv.gz`` (the 4-species
    one-to-one table) from :func:`resolve_data_dir`. The authors' counts are not integers
    (their quantification); they are rounded, so that UGE fits them with its negative
    binomial likelihood. ERCC spike-ins are dropped. A species keeps the genes of all its
    files.

    Parameters
    ----------
    data_dir
        The data directory; ``None`` reads ``$UGE_DATA_DIR``.
    species
        Species to read (of ``"human"``, ``"rhesus"``, ``"rat"``, ``"mouse"``; mouse has
        poly(I:C) 8 h cells only).
    concat
        One AnnData (:func:`uge.pp.concat_species`) or one per species.

    Returns
    -------
    anndata.AnnData or dict
        Counts with ``obs["condition"]`` (``"unst"``, ``"PIC2"``, ``"PIC4"``, ``"PIC8"``:
        hours of poly(I:C)); the concatenated AnnData has the one-to-one table of the
        chosen species in ``uns["orthologs"]`` (pairs of genes in the data only).
    """
    unknown = sorted(set(species) - set(HAGAI_CONDITIONS))
    if unknown or not species:
        raise ValueError(f"species must be among {list(HAGAI_CONDITIONS)}, got {list(species)}.")
    root = resolve_data_dir(data_dir) / "hagai2018"
    ortho = pd.read_csv(data_file(root / "ortho.csv.gz"))
    adatas = {}
    for s in species:
        parts = [_hagai_cells(root, s, c) for c in HAGAI_CONDITIONS[s]]
        adata = ad.concat(parts, join="inner")
        adata.obs["condition"] = pd.Categorical(
            adata.obs["condition"], categories=list(HAGAI_CONDITIONS[s])
        )
        adatas[s] = adata
    if not concat:
        return adatas
    adata = concat_species(adatas)
    table = ortho[list(species)].dropna().drop_duplicates()
    for s in species:
        table = table[table[s].isin(adatas[s].var_names)]
    adata.uns["orthologs"] = table.reset_index(drop=True).astype(object)
    return adata


def load_hagai2018_bulk(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Hagai et al. 2018 bulk fibroblast responses: log2 fold change per species and gene.

    Reads ``hagai2018/fibroblast_data.csv.gz`` (poly(I:C) 4 h against control, 9,753
    one-to-one orthologs; human Ensembl IDs and symbols).

    Parameters
    ----------
    data_dir
        The data directory; ``None`` reads ``$UGE_DATA_DIR``.

    Returns
    -------
    pandas.DataFrame
        Human gene IDs x ``<species>_log2FC`` and ``<species>_padj`` columns for human,
        rhesus, rat and mouse, with the gene symbol in ``"name"``.
    """
    root = resolve_data_dir(data_dir) / "hagai2018"
    table = pd.read_csv(data_file(root / "fibroblast_data.csv.gz"), index_col="gene")
    columns = [f"{s}_{k}" for s in HAGAI_CONDITIONS for k in ("log2FC", "padj")]
    return table[["name", *columns]]


def load_tissue_atlas(data_dir: str | os.PathLike | None = None) -> ad.AnnData:
    """Organ means of mouse (ENCODE) and human (GTEx), the organs both atlases have.

    Reads ``tissues/ENCODE_Dataset_expression.csv.gz`` (FPKM), ``tissues/GTEx-Combine_
    expression.csv.gz`` (TPM) and ``tissues/mouseHumanOrthologs.csv.gz`` (one-to-one,
    Ensembl IDs). Organs are matched by name (:data:`TISSUE_PAIRS`; the adult mouse
    cortex stands for the brain; bone marrow is in the mouse atlas only); each organ is one
    sample with ``obs["organ"]``. Values are ``log1p`` of the atlas's units, so UGE fits
    them with its Gaussian likelihood.

    Parameters
    ----------
    data_dir
        The data directory; ``None`` reads ``$UGE_DATA_DIR``.

    Returns
    -------
    anndata.AnnData
        Mouse and human organs (:func:`uge.pp.concat_species`); ``uns["orthologs"]``: the
        one-to-one table (columns ``mouse``, ``human``) of genes in both atlases.
    """
    root = resolve_data_dir(data_dir) / "tissues"
    files = {"mouse": "ENCODE_Dataset_expression.csv.gz", "human": "GTEx-Combine_expression.csv.gz"}
    adatas = {}
    for i, (species, name) in enumerate(files.items()):
        table = pd.read_csv(data_file(root / name), index_col=0)
        organs = {o: cols[i] for o, cols in TISSUE_PAIRS.items() if cols[i] is not None}
        values = np.log1p(table[list(organs.values())].to_numpy(np.float64).T)
        obs = pd.DataFrame({"organ": list(organs)}, index=[f"{species}_{o}" for o in organs])
        var = pd.DataFrame(index=table.index.astype(str))
        adatas[species] = ad.AnnData(values.astype(np.float32), obs=obs, var=var)
    ortho = pd.read_csv(data_file(root / "mouseHumanOrthologs.csv.gz"))
    ortho = ortho.rename(columns={"Gene.stable.ID": "mouse", "Human.gene.stable.ID": "human"})
    ortho = ortho[["mouse", "human"]].dropna().drop_duplicates()
    ortho = ortho[
        ortho["mouse"].isin(adatas["mouse"].var_names)
        & ortho["human"].isin(adatas["human"].var_names)
    ]
    adata = concat_species(adatas)
    adata.obs["organ"] = adata.obs["organ"].astype("category")
    adata.uns["orthologs"] = ortho.reset_index(drop=True).astype(object)
    return adata
