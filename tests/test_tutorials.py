"""The tutorial notebooks run against the current API (with fewer epochs)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "tutorials").glob("*.ipynb"))
DATA = os.environ.get("UGE_DATA_DIR") or str(ROOT.parent / "shared" / "data")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    cells = json.loads(path.read_text())["cells"]
    code = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    if "UGE_DATA_DIR" in code:
        missing = [d for d in re.findall(r"load_(\w+)\(", code) if not Path(DATA, d).is_dir()]
        if missing:
            pytest.skip(f"{path.name} reads real data: set UGE_DATA_DIR (no {missing} in {DATA})")
        monkeypatch.setenv("UGE_DATA_DIR", DATA)
    assert "max_epochs=" in code
    code = re.sub(r"max_epochs=\d+", "max_epochs=2", code)
    namespace: dict = {}
    exec(compile(code, str(path), "exec"), namespace)
    if 'adata.obsm["X_uge"] =' in code or "model.predict_labels(" in code:  # they embed adata
        assert "X_uge" in namespace["adata"].obsm
