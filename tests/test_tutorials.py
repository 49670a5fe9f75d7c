"""The tutorial notebooks run against the current API (with fewer epochs)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "tutorials").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    cells = json.loads(path.read_text())["cells"]
    code = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "max_epochs=" in code
    code = code.replace("max_epochs=30", "max_epochs=2")
    namespace: dict = {}
    exec(compile(code, str(path), "exec"), namespace)
    assert "X_uge" in namespace["adata"].obsm
