"""Loaders of real data sets from a local directory (nothing is downloaded)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd

from uge._constants import TARGET_SUM
from uge.pp import concat_species

ENV = "UGE_DATA_DIR"


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """The directory holding the real data sets: ``path``, else ``$UGE_DATA_DIR``.

    Raises a ``FileNotFoundError`` naming both when neither is an existing directory.
    """
    path = path if path is not None else os.environ.get(ENV)
    if path is None or not Path(path).is_dir():
        raise FileNotFoundError(
            f"No data directory: pass data_dir=... or set {ENV} to the folder that holds "
            f"baron/, brawand/, ... (got {path!r}). uge never downloads data."
        )
    return Path(path)


def data_file(path: Path) -> Path:
    """``path`` if it is a file, else a ``FileNotFoundError`` naming it."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: see the data directory's README.")
    return path


def load_baron(
    data_dir: str | os.PathLike | None = None, n_top_genes: int | None = 2000
) -> ad.AnnData:
    """Baron et al. 2016 pancreas scRNA-seq, human and mouse, as one AnnData.

    Reads ``baron/baron_human.h5ad``, ``baron/baron_mouse.h5ad`` and
    ``baron/orthologs_human_mouse_1to1.csv.gz`` from :func:`resolve_data_dir`. Keeps each
    species' ``n_top_genes`` most variable genes (``sc.pp.highly_variable_genes``, Seurat
    flavour, on log-normalised counts) and the one-to-one orthologs of the other species'
    (so that ortholog pairs stay whole); ``None`` keeps all genes.

    Parameters
    ----------
    data_dir
        The data directory; ``None`` reads ``$UGE_DATA_DIR``.
    n_top_genes
        Highly variable genes kept per species.

    Returns
    -------
    anndata.AnnData
        Raw UMI counts of both species (:func:`uge.pp.concat_species`), ``obs["cell_type"]``
        (the cell ontology class) and ``obs["donor"]``; ``uns["orthologs"]``: the one-to-one
        ortholog table (columns ``human``, ``mouse``) of the kept genes.
    """
    import scanpy as sc

    root = resolve_data_dir(data_dir) / "baron"
    adatas = {}
    for species in ("human", "mouse"):
        a = ad.read_h5ad(root / f"baron_{species}.h5ad")
        a = ad.AnnData(
            a.X,
            obs=pd.DataFrame(
                {
                    "cell_type": a.obs["cell_ontology_class"].astype(str).to_numpy(),
                    "donor": a.obs["donor"].astype(str).to_numpy(),
                },
                index=a.obs_names,
            ),
            var=pd.DataFrame(index=a.var_names),
        )
        adatas[species] = a
    table = pd.read_csv(root / "orthologs_human_mouse_1to1.csv.gz")
    table = table.rename(columns={"human.gene.name": "human", "gene.name": "mouse"})
    table = table[["human", "mouse"]].drop_duplicates()
    table = table[
        table["human"].isin(adatas["human"].var_names)
        & table["mouse"].isin(adatas["mouse"].var_names)
    ]
    if n_top_genes is not None:
        hvg = {}
        for species, a in adatas.items():
            log = a.copy()
            sc.pp.normalize_total(log, target_sum=TARGET_SUM)
            sc.pp.log1p(log)
            sc.pp.highly_variable_genes(log, n_top_genes=n_top_genes)
            hvg[species] = set(a.var_names[log.var["highly_variable"].to_numpy()])
        # a highly variable gene's one-to-one ortholog is kept too, so that pairs stay whole
        table = table[table["human"].isin(hvg["human"]) | table["mouse"].isin(hvg["mouse"])]
        for species, a in adatas.items():
            keep = a.var_names.isin(hvg[species] | set(table[species]))
            adatas[species] = a[:, keep].copy()
    adata = concat_species(adatas)
    adata.uns["orthologs"] = table.reset_index(drop=True).astype(object)
    adata.obs["cell_type"] = adata.obs["cell_type"].astype("category")
    return adata


BRAWAND_SPECIES = (
    "human",
    "chimpanzee",
    "bonobo",
    "gorilla",
    "orangutan",
    "macaque",
    "mouse",
    "opossum",
    "platypus",
    "chicken",
)


def load_brawand(
    data_dir: str | os.PathLike | None = None,
    species: Sequence[str] = ("human", "macaque", "mouse", "opossum", "platypus", "chicken"),
) -> ad.AnnData:
    """Brawand et al. 2011 bulk RNA-seq of 6 organs in up to 10 species, as one AnnData.

    Reads ``brawand/<species>_counts.tsv.gz``, ``brawand/samples.tsv`` and
    ``brawand/orthologs_1to1.tsv.gz`` from :func:`resolve_data_dir`. Each species keeps its
    own Ensembl gene IDs (5,636 per species, those with a one-to-one ortholog in all ten).
    Chimpanzee and bonobo share chimpanzee IDs in the source; their genes are told apart
    by the species prefix that :func:`uge.pp.concat_species` adds.

    Parameters
    ----------
    data_dir
        The data directory; ``None`` reads ``$UGE_DATA_DIR``.
    species
        Species to load, any of ``human, chimpanzee, bonobo, gorilla, orangutan, macaque,
        mouse, opossum, platypus, chicken``.

    Returns
    -------
    anndata.AnnData
        Raw read counts (:func:`uge.pp.concat_species`), ``obs["organ"]`` (brain,
        cerebellum, heart, kidney, liver, testis) and ``obs["sex"]``; ``uns["orthologs"]``:
        the one-to-one table with one column per loaded species.
    """
    species = list(species)
    unknown = sorted(set(species) - set(BRAWAND_SPECIES))
    if unknown or not species:
        raise ValueError(f"species {unknown or species} not in Brawand: {list(BRAWAND_SPECIES)}.")
    root = resolve_data_dir(data_dir) / "brawand"
    samples = pd.read_csv(root / "samples.tsv", sep="\t", index_col=0)
    table = pd.read_csv(root / "orthologs_1to1.tsv.gz", sep="\t")
    table.columns = [c.lower() for c in table.columns]
    adatas = {}
    for name in species:
        counts = pd.read_csv(root / f"{name}_counts.tsv.gz", sep="\t", index_col=0)
        obs = samples.loc[counts.columns, ["organ", "sex"]].astype(str)
        adatas[name] = ad.AnnData(
            counts.T.to_numpy(np.float32), obs=obs, var=pd.DataFrame(index=counts.index)
        )
    adata = concat_species(adatas)
    adata.uns["orthologs"] = table[species].drop_duplicates().reset_index(drop=True).astype(object)
    adata.obs["organ"] = adata.obs["organ"].astype("category")
    return adata


def load_drugmatrix(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """DrugMatrix rat drug signatures (liver and kidney) as a reactome table.

    Reads ``drugmatrix/drugmatrix_{liver,kidney}_ranked.csv.gz`` from
    :func:`resolve_data_dir`: for each drug and organ, every gene ranked by differential
    expression (rank 1 most up-regulated, the last rank most down-regulated). Only ranks
    are published, so each rank ``r`` of ``n`` genes becomes the normal score
    ``Phi^-1(1 - (r - 0.5) / n)``: a signed, comparable stand-in for the fold change.

    Parameters
    ----------
    data_dir
        The data directory; ``None`` reads ``$UGE_DATA_DIR``.

    Returns
    -------
    pandas.DataFrame
        Genes (rat symbols, those ranked in both organs) × ``"organ|drug"`` columns (as
        :func:`uge.tl.reactome` names them), liver columns first.
    """
    from scipy.stats import norm

    root = resolve_data_dir(data_dir) / "drugmatrix"
    frames = []
    for organ in ("liver", "kidney"):
        ranks = pd.read_csv(data_file(root / f"drugmatrix_{organ}_ranked.csv.gz"))
        n = ranks.groupby("drug")["rank"].transform("max")
        ranks["score"] = norm.ppf(1.0 - (ranks["rank"] - 0.5) / n)
        wide = ranks.pivot_table(index="gene", columns="drug", values="score", aggfunc="mean")
        wide.columns = [f"{organ}|{d}" for d in wide.columns]
        frames.append(wide)
    table = pd.concat(frames, axis=1, join="inner")
    table.index.name = None
    return table


def load_kang(data_dir: str | os.PathLike | None = None) -> ad.AnnData:
    """Kang et al. 2018 PBMCs, control and interferon-beta stimulated (scGen's split).

    Reads ``kang/kang_valid.h5ad`` from :func:`resolve_data_dir`: the 1,975 cells x 6,998
    genes of scGen's validation file, seven cell types in both conditions, already
    log-normalised (there are no counts: UGE fits it with the Gaussian likelihood).

    Parameters
    ----------
    data_dir
        The data directory; ``None`` reads ``$UGE_DATA_DIR``.

    Returns
    -------
    anndata.AnnData
        One species, ``"human"`` (:func:`uge.pp.concat_species`, gene symbols as names),
        with ``obs["condition"]`` (``"control"`` or ``"stimulated"``) and
        ``obs["cell_type"]``.
    """
    adata = ad.read_h5ad(data_file(resolve_data_dir(data_dir) / "kang" / "kang_valid.h5ad"))
    if "gene_symbol" in adata.var:
        adata.var_names = adata.var["gene_symbol"].astype(str).to_numpy()
    adata.var_names_make_unique()
    adata.var = adata.var.drop(columns=adata.var.columns)
    adata.obs = adata.obs[["condition", "cell_type"]].astype("category")
    return concat_species({"human": adata})
