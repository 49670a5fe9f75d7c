"""Loaders on the real data sets (``$UGE_DATA_DIR``, else ``../shared/data``).

These check what the files hold; they skip, naming the folder, where the data are absent
(the loaders' code also runs on fake data in ``test_tutorials.py``, which never skips).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import uge

DATA = Path(os.environ.get("UGE_DATA_DIR") or Path(__file__).parents[2] / "shared" / "data")


def _needs(name: str) -> Path:
    if not (DATA / name).is_dir():
        pytest.skip(f"no {name}/ in {DATA}: set UGE_DATA_DIR to the shared data directory")
    return DATA


def test_load_kang_reads_the_scgen_split():
    kang = uge.datasets.load_kang(_needs("kang"))
    assert kang.shape == (1975, 6998)
    assert kang.obs["cell_type"].nunique() == 7
    assert kang.obs.groupby("condition", observed=True).size().to_dict() == {
        "control": 936,
        "stimulated": 1039,
    }
    assert "human:ISG15" in kang.var_names  # the interferon response gene, by symbol
    assert 0 < kang.X.max() < 10  # log-normalised, not counts
    assert not np.allclose(kang.X.data, np.round(kang.X.data))


def test_load_kang_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"kang_valid\.h5ad not found"):
        uge.datasets.load_kang(tmp_path)


def test_load_hagai2018_reads_four_species_and_their_orthologs():
    adata = uge.datasets.load_hagai2018(_needs("hagai2018"))
    counts = adata.obs.groupby(["species", "condition"], observed=True).size()
    assert counts[("human", "unst")] == 29 and counts[("human", "PIC8")] == 35
    assert counts[("rat", "unst")] == 33 and counts[("mouse", "PIC8")] == 30
    assert ("mouse", "unst") not in counts.index  # no unstimulated mouse cells exist
    assert not adata.var["gene"].str.startswith("ERCC").any()
    x = adata.X.toarray()
    assert (x == np.round(x)).all() and (x >= 0).all()
    table = adata.uns["orthologs"]
    assert list(table.columns) == ["human", "rhesus", "rat", "mouse"] and len(table) > 8000
    for species in table.columns:  # every pair names genes of the data
        genes = set(adata.var["gene"][adata.var["species"] == species])
        assert set(table[species]) <= genes
    rat = uge.datasets.load_hagai2018(DATA, species=["rat"], concat=False)["rat"]
    assert list(rat.obs["condition"].cat.categories) == ["unst", "PIC8"]
    with pytest.raises(ValueError, match="species must be among"):
        uge.datasets.load_hagai2018(DATA, species=["pig"])


def test_load_hagai2018_bulk_has_every_species_response():
    bulk = uge.datasets.load_hagai2018_bulk(_needs("hagai2018"))
    assert len(bulk) == 9753 and bulk.loc[bulk["name"] == "IFNB1", "human_log2FC"].item() > 5


def test_load_tissue_atlas_matches_organs_across_atlases():
    atlas = uge.datasets.load_tissue_atlas(_needs("tissues"))
    organs = atlas.obs.groupby("species", observed=True)["organ"].apply(set)
    assert organs["human"] < organs["mouse"] and "bone marrow" not in organs["human"]
    assert {"liver", "kidney", "heart", "brain"} <= organs["human"]
    assert len(atlas.uns["orthologs"]) > 14000 and 0 <= atlas.X.min()


def test_loaders_name_the_missing_file(tmp_path):
    (tmp_path / "hagai2018").mkdir()
    (tmp_path / "tissues").mkdir()
    with pytest.raises(FileNotFoundError, match=r"ortho\.csv\.gz not found"):
        uge.datasets.load_hagai2018(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"ENCODE_Dataset_expression\.csv\.gz not found"):
        uge.datasets.load_tissue_atlas(tmp_path)
