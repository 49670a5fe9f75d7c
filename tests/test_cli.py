from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pytest

from uge._cli import main

pytestmark = pytest.mark.slow  # the demo trains on 1,000 samples


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "organ of rat samples from mouse labels" in out
    assert "rat organs under tetracycline" in out
    report = json.loads((tmp_path / "report.json").read_text())
    overall = report["annotation"]["overall"]
    assert overall["accuracy"] > overall["chance_accuracy"] + 0.3
    r2 = report["perturbation"]["r2"]
    assert set(r2) == {
        "brain", "heart", "kidney", "liver", "lung", "muscle", "pancreas", "spleen", "stomach",
        "thymus",
    }  # fmt: skip
    assert {"UGE", "additive", "no change", "held-out samples"} <= set(r2["brain"])
    for name in ("annotation_accuracy.png", "perturbation_scatter.png", "umap_X_uge.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    adata = ad.read_h5ad(tmp_path / "demo.h5ad")
    assert "X_uge" in adata.obsm and "X_umap" in adata.obsm
    assert "uge_prediction" in adata.obs
    layer = adata.layers["uge_tetracycline"]
    rows = ((adata.obs["species"] == "rat") & (adata.obs["drug"] == "control")).to_numpy()
    assert np.isfinite(layer[rows]).all() and np.isnan(layer[~rows]).all()
    assert (tmp_path / "model" / "model.pt").exists()
    top1 = report["gene_mapping"]["top1"]
    assert top1["one_to_one"]["ortholog table"] == 1.0
    assert top1["rewired"]["ortholog table"] == 0.0
    assert top1["one_to_one"]["UGE"] > 0.8
