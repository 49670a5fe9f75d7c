from __future__ import annotations

import json

import anndata as ad

from uge._cli import main


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "organ of rat samples from mouse labels" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["organ_accuracy_mouse_to_rat"] > report["organ_accuracy_random_chance"] + 0.3
    assert (tmp_path / "umap_X_uge.png").stat().st_size > 10_000
    adata = ad.read_h5ad(tmp_path / "demo.h5ad")
    assert "X_uge" in adata.obsm and "X_umap" in adata.obsm
    assert (tmp_path / "model" / "model.pt").exists()
