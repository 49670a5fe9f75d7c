from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import uge


@pytest.fixture
def figdir(tmp_path):
    old = sc.settings.figdir
    sc.settings.figdir = tmp_path
    yield tmp_path
    sc.settings.figdir = old


def test_annotation_accuracy(trained, figdir):
    tmp_path = figdir
    model, a = trained
    adata = a.copy()
    model.predict_labels("mouse", "rat", adata=adata)
    ax = uge.pl.annotation_accuracy(adata, show=False, save=".png")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["brain", "liver"]
    assert "chance" in ax.get_title() and "accuracy" in ax.get_ylabel()
    assert (tmp_path / "annotation_accuracy.png").stat().st_size > 5_000


def test_perturbation_scatter(figdir):
    tmp_path = figdir
    rng = np.random.default_rng(0)
    truth = pd.DataFrame(rng.normal(size=(2, 40)), index=["brain", "liver"])
    control = truth - np.r_[np.full(5, 2.0), np.zeros(35)]
    methods = {"UGE": truth + 0.1 * rng.normal(size=truth.shape), "no change": control}
    fig = uge.pl.perturbation_scatter(methods, truth, control, top_n_degs=5, show=False, save=True)
    axes = fig.axes
    assert len(axes) == 4
    assert axes[0].get_title().startswith("brain\nUGE: R²")
    assert "log1p" in axes[2].get_xlabel()
    assert any(tmp_path.glob("perturbation_scatter.*"))
    with pytest.raises(ValueError, match="not in both"):
        uge.pl.perturbation_scatter(methods, truth, groups=["heart"], show=False)
