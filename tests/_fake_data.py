"""Small stand-ins for the real data sets, in the files and formats the loaders read.

``uge.datasets.load_baron`` and ``load_brawand`` (``src/uge/datasets/_real.py``) read a data
directory (``$UGE_DATA_DIR``); :func:`write_fake_data` writes one with the same file names,
columns and value types, but a few hundred genes and samples of random counts with cell-type
(or organ) programs shared by orthologous genes. The tutorial tests run the notebooks on it
where the real data are absent, so that a clean CI run still executes every cell.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

#: Pancreas cell types of the Baron data (``obs["cell_ontology_class"]``), a few of them.
BARON_CELL_TYPES = (
    "type B pancreatic cell",
    "pancreatic A cell",
    "pancreatic ductal cell",
    "endothelial cell",
)
#: Brawand species, their Ensembl gene-ID prefixes (chimpanzee and bonobo share IDs).
BRAWAND_PREFIXES = {
    "human": "ENSG",
    "chimpanzee": "ENSPTRG",
    "bonobo": "ENSPTRG",
    "gorilla": "ENSGGOG",
    "orangutan": "ENSPPYG",
    "macaque": "ENSMMUG",
    "mouse": "ENSMUSG",
    "opossum": "ENSMODG",
    "platypus": "ENSOANG",
    "chicken": "ENSGALG",
}
BRAWAND_ORGANS = ("brain", "cerebellum", "heart", "kidney", "liver", "testis")


def _counts(
    rng: np.random.Generator, groups: np.ndarray, base: np.ndarray, program: np.ndarray, lib: float
) -> np.ndarray:
    """Poisson counts: each sample's rates are softmax(base + its group's program) x library."""
    logits = base[None, :] + program[groups] + rng.normal(0.0, 0.2, (len(groups), len(base)))
    rates = np.exp(logits - logits.max(1, keepdims=True))
    rates /= rates.sum(1, keepdims=True)
    library = rng.lognormal(np.log(lib), 0.3, len(groups))[:, None]
    return rng.poisson(rates * library).astype(np.float32)


def _programs(rng: np.random.Generator, n_groups: int, n_genes: int, n_markers: int) -> np.ndarray:
    """Per group, ``n_markers`` random genes up by 2 (natural log): ``(n_groups, n_genes)``."""
    program = np.zeros((n_groups, n_genes))
    for g in range(n_groups):
        program[g, rng.choice(n_genes, n_markers, replace=False)] = 2.0
    return program


def write_fake_baron(
    path: Path, n_cells: int = 120, n_pairs: int = 240, n_unique: int = 30, seed: int = 0
) -> None:
    """Write ``baron_{human,mouse}.h5ad`` and ``orthologs_human_mouse_1to1.csv.gz``.

    Parameters
    ----------
    path
        The ``baron/`` folder to write (created).
    n_cells
        Cells per species.
    n_pairs
        One-to-one ortholog genes per species (``GENE1`` in human, ``Gene1`` in mouse).
    n_unique
        Genes of each species without an ortholog.
    seed
        Random seed.
    """
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    n_types = len(BARON_CELL_TYPES)
    shared_base = rng.normal(0.0, 1.0, n_pairs)
    shared_program = _programs(rng, n_types, n_pairs, 20)
    for species, name in (("human", str.upper), ("mouse", str.capitalize)):
        genes = [name(f"gene{i + 1}") for i in range(n_pairs)]
        genes += [name(f"{species[0]}only{i + 1}") for i in range(n_unique)]
        base = np.r_[shared_base + rng.normal(0.0, 0.3, n_pairs), rng.normal(0, 1, n_unique)]
        program = np.c_[shared_program, _programs(rng, n_types, n_unique, 3)]
        types = rng.integers(0, n_types, n_cells)
        x = _counts(rng, types, base, program, lib=2000.0)
        obs = pd.DataFrame(
            {
                "cell_ontology_class": pd.Categorical(np.asarray(BARON_CELL_TYPES)[types]),
                "donor": pd.Categorical(rng.choice([f"{species}1", f"{species}2"], n_cells)),
            },
            index=[f"{species}1_lib1.final_cell_{i + 1:04d}" for i in range(n_cells)],
        )
        adata = ad.AnnData(sparse.csr_matrix(x), obs=obs, var=pd.DataFrame(index=genes))
        adata.write_h5ad(path / f"baron_{species}.h5ad")
    # the BioMart table also lists genes the data lack, as the real one does
    human = [f"GENE{i + 1}" for i in range(n_pairs + 20)]
    pd.DataFrame(
        {
            "human.gene.name": human,
            "gene.name": [g.capitalize() for g in human],
            "human.homology.type": "ortholog_one2one",
            "human.gene.order.conservation.score": 100,
            "human.whole.genome.alignment.coverage": 100,
            "human.orthology.confidence..0.low..1.high.": 1,
        }
    ).to_csv(path / "orthologs_human_mouse_1to1.csv.gz", index=False)


def write_fake_brawand(
    path: Path, n_genes: int = 300, n_replicates: int = 2, seed: int = 0
) -> None:
    """Write ``<species>_counts.tsv.gz`` for all ten species, ``samples.tsv`` and
    ``orthologs_1to1.tsv.gz``.

    Parameters
    ----------
    path
        The ``brawand/`` folder to write (created).
    n_genes
        Genes per species, all in the one-to-one table (as in the real data).
    n_replicates
        Samples per organ and species (the first female, the others male).
    seed
        Random seed.
    """
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    base = rng.normal(0.0, 1.0, n_genes)
    program = _programs(rng, len(BRAWAND_ORGANS), n_genes, 30)
    table, samples = {}, []
    for species, prefix in BRAWAND_PREFIXES.items():
        ids = [f"{prefix}{i + 1:011d}" for i in range(n_genes)]
        table[species.capitalize()] = ids
        organs = np.repeat(np.arange(len(BRAWAND_ORGANS)), n_replicates)
        sexes = ["Female", *(f"Male{r}" for r in range(1, n_replicates))] * len(BRAWAND_ORGANS)
        names = [
            f"{species.capitalize()}_{BRAWAND_ORGANS[o].capitalize()}_{s}"
            for o, s in zip(organs, sexes, strict=True)
        ]
        x = _counts(rng, organs, base + rng.normal(0.0, 0.3, n_genes), program, lib=1e6)
        counts = pd.DataFrame(x.T.astype(np.int64), index=ids, columns=names)
        counts.index.name = f"{species}_gene_id"
        counts.to_csv(path / f"{species}_counts.tsv.gz", sep="\t")
        for name, o, s in zip(names, organs, sexes, strict=True):
            samples.append((name, species, BRAWAND_ORGANS[o], s.rstrip("0123456789").lower()))
    frame = pd.DataFrame(samples, columns=["sample", "species", "organ", "sex"])
    frame.to_csv(path / "samples.tsv", sep="\t", index=False)
    pd.DataFrame(table).to_csv(path / "orthologs_1to1.tsv.gz", sep="\t", index=False)


#: Kang cell types (``obs["cell_type"]``), a few of them.
KANG_CELL_TYPES = ("CD4T", "CD14+Mono", "B", "NK")


def write_fake_kang(path: Path, n_cells: int = 240, n_genes: int = 300, seed: int = 0) -> None:
    """Write ``kang_valid.h5ad``: log-normalised PBMCs, control and stimulated.

    Stimulated cells of every type raise one shared set of 20 response genes (and each type
    a few of its own), as interferon does.

    Parameters
    ----------
    path
        The ``kang/`` folder to write (created).
    n_cells
        Cells (half of them stimulated).
    n_genes
        Genes.
    seed
        Random seed.
    """
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    n_types = len(KANG_CELL_TYPES)
    types = rng.integers(0, n_types, n_cells)
    stimulated = np.arange(n_cells) % 2 == 1
    # groups: each type under control, then each type stimulated
    response = _programs(rng, 1, n_genes, 20) + _programs(rng, n_types, n_genes, 5)
    program = np.r_[_programs(rng, n_types, n_genes, 20), np.zeros((n_types, n_genes))]
    program[n_types:] = program[:n_types] + response
    counts = _counts(rng, types + n_types * stimulated, rng.normal(0, 1, n_genes), program, 2000)
    x = np.log1p(counts / counts.sum(1, keepdims=True) * 1e4).astype(np.float32)
    condition = np.where(stimulated, "stimulated", "control")
    obs = pd.DataFrame(
        {
            "condition": pd.Categorical(condition),
            "cell_type": pd.Categorical(np.asarray(KANG_CELL_TYPES)[types]),
            "n_counts": counts.sum(1),
        },
        index=[f"CELL{i + 1:04d}-1-{c}" for i, c in enumerate(condition)],
    )
    var = pd.DataFrame({"gene_symbol": [f"GENE{i + 1}" for i in range(n_genes)]})
    var.index = var["gene_symbol"].to_numpy()
    ad.AnnData(sparse.csr_matrix(x), obs=obs, var=var).write_h5ad(path / "kang_valid.h5ad")


HAGAI_PREFIXES = {"human": "ENSG", "rhesus": "ENSMMUG", "rat": "ENSRNOG", "mouse": "ENSMUSG"}
HAGAI_CONDITIONS = {
    "human": ("unst", "PIC8"),
    "rhesus": ("unst", "PIC2", "PIC4", "PIC8"),
    "rat": ("unst", "PIC8"),
    "mouse": ("PIC8",),
}


def write_fake_hagai2018(
    path: Path, n_cells: int = 16, n_genes: int = 200, n_pairs: int = 180, seed: int = 0
) -> None:
    """Write ``hagai2018/``: fibroblast counts of four species, ortholog and bulk tables.

    Per species and condition a tab-separated genes x cells file without header (two
    ERCC spike-in rows among the genes, as in the authors' files); poly(I:C) raises one
    set of 15 response genes, shared by orthologs, by more with every hour, and each
    species a few of its own. ``ortho.csv.gz``: the first ``n_pairs`` genes of every
    species, paired; ``fibroblast_data.csv.gz``: bulk log2 fold changes of those genes.

    Parameters
    ----------
    path
        The ``hagai2018/`` folder to write (created).
    n_cells
        Cells per species and condition.
    n_genes
        Genes per species.
    n_pairs
        Genes of every species in the ortholog table.
    seed
        Random seed.
    """
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    base = rng.normal(0, 1, n_genes)
    shared = _programs(rng, 1, n_genes, 15)[0]
    bulk = {}
    for species, prefix in HAGAI_PREFIXES.items():
        own = _programs(rng, 1, n_genes, 5)[0]
        genes = [f"{prefix}{i + 1:011d}" for i in range(n_genes)]
        for condition in HAGAI_CONDITIONS[species]:
            hours = 0 if condition == "unst" else int(condition[3:])
            program = (shared + own)[None, :] * hours / 8
            counts = _counts(rng, np.zeros(n_cells, int), base, program, 5000)
            table = pd.DataFrame(counts.T, index=genes)
            ercc = pd.DataFrame(rng.poisson(5, (2, n_cells)), index=["ERCC-00002", "ERCC-00004"])
            table = pd.concat([table.iloc[:50], ercc, table.iloc[50:]])
            table.to_csv(path / f"counts_{species}_{condition}.csv.gz", sep="\t", header=False)
        bulk[f"{species}_log2FC"] = ((shared + own) / np.log(2))[:n_pairs]
        bulk[f"{species}_padj"] = np.where((shared + own)[:n_pairs] > 0, 1e-6, 0.5)
    pairs = {s: [f"{p}{i + 1:011d}" for i in range(n_pairs)] for s, p in HAGAI_PREFIXES.items()}
    pd.DataFrame(pairs).to_csv(path / "ortho.csv.gz", index=False)
    frame = pd.DataFrame({"gene": pairs["human"], "name": [f"GENE{i + 1}" for i in range(n_pairs)]})
    pd.concat([frame, pd.DataFrame(bulk)], axis=1).to_csv(
        path / "fibroblast_data.csv.gz", index=False
    )


WRITERS = {
    "baron": write_fake_baron,
    "brawand": write_fake_brawand,
    "kang": write_fake_kang,
    "hagai2018": write_fake_hagai2018,
}


def write_fake_data(root: Path, datasets: Iterable[str] = tuple(WRITERS), seed: int = 0) -> Path:
    """Write small fake versions of real data sets into a data directory.

    Parameters
    ----------
    root
        The data directory (what ``$UGE_DATA_DIR`` points to); each data set gets its
        folder there (``baron/``, ``brawand/``).
    datasets
        Data sets to write, named as their loaders (``load_baron`` -> ``"baron"``).
    seed
        Random seed.

    Returns
    -------
    pathlib.Path
        ``root``.
    """
    datasets = list(datasets)
    unknown = sorted(set(datasets) - set(WRITERS))
    if unknown:
        raise ValueError(f"No fake data for {unknown}: only for {sorted(WRITERS)}.")
    for name in datasets:
        WRITERS[name](Path(root) / name, seed=seed)
    return Path(root)
