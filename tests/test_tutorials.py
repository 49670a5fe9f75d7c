"""The tutorial notebooks run against the current API (with fewer epochs)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))
DATA = os.environ.get("UGE_DATA_DIR") or str(ROOT.parent / "shared" / "data")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    cells = json.loads(path.read_text())["cells"]
    code = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    if "UGE_DATA_DIR" in code:
        if not Path(DATA, "baron").is_dir():
            pytest.skip(f"{path.name} reads real data: set UGE_DATA_DIR (no baron/ in {DATA})")
        monkeypatch.setenv("UGE_DATA_DIR", DATA)
    assert "max_epochs=" in code
    code = code.replace("max_epochs=30", "max_epochs=2")
    namespace: dict = {}
    exec(compile(code, str(path), "exec"), namespace)
    assert "X_uge" in namespace["adata"].obsm
