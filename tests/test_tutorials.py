"""The tutorial notebooks run against the current API (with fewer epochs).

Notebooks that read real data (``uge.datasets.load_<name>(...)``) run on the real data sets
where the data directory (``$UGE_DATA_DIR``, else ``../shared/data``) has them all, and
otherwise on small fake data sets in the same files and formats (``tests/_fake_data.py``):
they never skip, so a clean CI run executes every cell too.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from _fake_data import WRITERS, write_fake_data

import uge
from uge.datasets._real import BRAWAND_SPECIES

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))
DATA = Path(os.environ.get("UGE_DATA_DIR") or ROOT.parent / "shared" / "data")
LOADER = re.compile(r"uge\.datasets\.load_(\w+)\(")


def _code(path: Path) -> str:
    """A notebook's code cells, joined."""
    cells = json.loads(path.read_text())["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _data_dir(code: str, tmp_path: Path) -> tuple[Path, str] | None:
    """The data directory for a notebook, and whether its data are ``"real"`` or ``"fake"``.

    ``None`` for a notebook that reads no real data. The real directory where it has a
    folder for every loader the notebook calls (``load_baron`` -> ``baron/``), else fake
    data for those loaders written under ``tmp_path``.
    """
    needed = sorted(set(LOADER.findall(code)))
    if not needed and "UGE_DATA_DIR" not in code:
        return None
    if all((DATA / name).is_dir() for name in needed):
        return DATA, "real"
    return write_fake_data(tmp_path / "data", needed), "fake"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch, record_property):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    code = _code(path)
    data = _data_dir(code, tmp_path)
    if data is not None:
        monkeypatch.setenv("UGE_DATA_DIR", str(data[0]))
        record_property("data", data[1])
        print(f"{path.name}: {data[1]} data in {data[0]}")
    assert "max_epochs=" in code
    code = re.sub(r"max_epochs=\d+", "max_epochs=2", code)
    namespace: dict = {}
    exec(compile(code, str(path), "exec"), namespace)
    if 'adata.obsm["X_uge"] =' in code or "model.predict_labels(" in code:  # they embed adata
        assert "X_uge" in namespace["adata"].obsm


def test_every_loader_of_the_notebooks_has_fake_data():
    """A notebook that calls a loader without fake data would fail where data are absent."""
    called = {name for path in NOTEBOOKS for name in LOADER.findall(_code(path))}
    assert called, "no notebook reads real data: the pattern no longer finds the loaders"
    assert called <= set(WRITERS), f"add fake data for {sorted(called - set(WRITERS))}"


def test_notebooks_without_real_data_get_fake_data(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "DATA", tmp_path / "empty")
    code = "adata = uge.datasets.load_baron(os.environ.get('UGE_DATA_DIR'))"
    path, kind = _data_dir(code, tmp_path)
    assert kind == "fake" and sorted(p.name for p in path.iterdir()) == ["baron"]
    monkeypatch.setattr(sys.modules[__name__], "DATA", path)
    assert _data_dir(code, tmp_path / "other") == (path, "real")
    assert _data_dir("adata = uge.datasets.simulate_study()", tmp_path) is None


def test_fake_data_are_read_by_the_loaders(tmp_path):
    """The fake files have the names, columns and values that the loaders read."""
    write_fake_data(tmp_path)
    baron = uge.datasets.load_baron(tmp_path)
    assert set(baron.obs["species"]) == {"human", "mouse"}
    assert baron.obs["cell_type"].nunique() == 4 and baron.obs["donor"].nunique() == 4
    assert list(baron.uns["orthologs"].columns) == ["human", "mouse"]
    assert len(baron.uns["orthologs"]) == 240  # pairs of genes in the data only
    x = baron.X.toarray()
    assert (x >= 0).all() and (x == np.round(x)).all() and (x > 0).mean() > 0.3
    brawand = uge.datasets.load_brawand(tmp_path, species=list(BRAWAND_SPECIES))
    assert brawand.obs["species"].nunique() == 10 and brawand.obs["organ"].nunique() == 6
    assert set(brawand.obs["sex"]) == {"female", "male"}
    assert brawand.uns["orthologs"].shape == (300, 10)
    assert brawand.n_vars == 10 * 300  # chimpanzee and bonobo IDs told apart by species
    kang = uge.datasets.load_kang(tmp_path)
    assert set(kang.obs["condition"]) == {"control", "stimulated"}
    assert kang.obs["cell_type"].nunique() == 4 and set(kang.var["species"]) == {"human"}
    assert kang.X.max() < 15 and (kang.X.toarray() != np.round(kang.X.toarray())).any()
    hagai = uge.datasets.load_hagai2018(tmp_path)
    assert set(hagai.obs["species"]) == {"human", "rhesus", "rat", "mouse"}
    assert hagai.n_vars == 4 * 200 and not hagai.var_names.str.contains("ERCC").any()
    assert hagai.obs.groupby("species", observed=True)["condition"].nunique().to_dict() == {
        "human": 2,
        "mouse": 1,
        "rat": 2,
        "rhesus": 4,
    }
    assert hagai.uns["orthologs"].shape == (180, 4)
    bulk = uge.datasets.load_hagai2018_bulk(tmp_path)
    assert bulk.shape == (180, 9) and (bulk["human_padj"] < 0.05).sum() >= 15
    with pytest.raises(ValueError, match="No fake data"):
        write_fake_data(tmp_path, ["tissues"])
