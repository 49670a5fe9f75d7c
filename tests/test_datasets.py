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
