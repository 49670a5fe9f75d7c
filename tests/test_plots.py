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
    model.predict_labels("mouse", "rat", adata=adata, key_added="uge_prediction")
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


def test_reactome_heatmap(study, figdir):
    adata = study.copy()
    uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
    drop = ((adata.obs["species"] == "rat") & (adata.obs["organ"] == "liver")).to_numpy()
    part = adata[~drop].copy()
    uge.tl.reactome(part, labels_key="organ", condition_key="drug")
    genes = [part.var_names[0], part.var_names[-1]]
    ax = uge.pl.reactome_heatmap(part, genes, show=False, save=".png")
    assert [t.get_text() for t in ax.get_yticklabels()] == genes
    assert [t.get_text() for t in ax.get_xticklabels()] == list(
        part.uns["uge"]["uge_reactome"]["columns"]
    )
    # the rat gene's liver column was not measured: masked (drawn grey), not 0
    data = ax.images[0].get_array()
    rat_row = genes.index(next(g for g in genes if g.startswith("rat:")))
    liver = list(part.uns["uge"]["uge_reactome"]["columns"]).index("liver|tetracycline")
    assert data.mask[rat_row, liver]
    assert (figdir / "reactome_heatmap.png").stat().st_size > 5_000
    with pytest.raises(KeyError, match="not var_names"):
        uge.pl.reactome_heatmap(part, ["Mg0001"], show=False)


def test_gene_mapping_plot(figdir):
    scores = {
        "A": pd.DataFrame({"n": [10, 4], "top1": [0.5, 0.25]}, index=["overall", "rewired"]),
        "B": pd.DataFrame({"n": [10, 4], "top1": [0.9, 0.75]}, index=["overall", "rewired"]),
    }
    ax = uge.pl.gene_mapping(scores, show=False, save=".png")
    heights = sorted(round(p.get_height(), 2) for p in ax.patches)
    assert heights == [0.25, 0.5, 0.75, 0.9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["overall\n(n=10)", "rewired\n(n=4)"]
    assert (figdir / "gene_mapping.png").stat().st_size > 5_000
    with pytest.raises(ValueError, match="empty"):
        uge.pl.gene_mapping({}, show=False)


def test_reactome_prediction_plot(figdir):
    rng = np.random.default_rng(0)
    measured = pd.DataFrame(rng.normal(size=(50, 2)), columns=["liver|a", "kidney|a"])
    predicted = measured.mul([1.0, 0.0]) + 0.1 * rng.normal(size=(50, 2))
    fig = uge.pl.reactome_prediction(predicted.iloc[5:], measured, show=False, save=True)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("liver|a\nPearson r 0.99") and "(45 genes)" in titles[0]
    assert float(titles[1].split("r ")[1].split(" ")[0]) < 0.5  # an unrelated prediction
    assert any(figdir.glob("reactome_prediction.*"))
    with pytest.raises(ValueError, match="not in both"):
        uge.pl.reactome_prediction(predicted, measured, columns=["brain|a"], show=False)


def test_experiment_suggestions_and_gene_shift_plots(figdir):
    suggestions = pd.DataFrame(
        {
            "label": ["kidney", "liver"],
            "condition": ["drug_a", "tetracycline"],
            "expected_error": [0.4, 0.1],
            "measured_in": ["", "mouse"],
        }
    )
    ax = uge.pl.experiment_suggestions(suggestions, show=False, save=".png")
    # best first, at the top
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "liver × tetracycline",
        "kidney × drug_a",
    ]
    assert [t.get_text() for t in ax.texts] == ["  measured in mouse"]
    assert (figdir / "experiment_suggestions.png").stat().st_size > 3_000
    ranking = pd.DataFrame(
        {
            "gene": list("abc"),
            "movement": [0.3, 0.2, 0.01],
            "fdr": [0.01, 0.04, 0.9],
            "rank": [1, 2, 3],
        }
    )
    ax = uge.pl.gene_shift(ranking, n=2, show=False)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"]
    assert ax.get_title().startswith("2 of 2 genes")
    with pytest.raises(ValueError, match="rank_genes_by_shift"):
        uge.pl.gene_shift(ranking.drop(columns="fdr"), show=False)
    with pytest.raises(ValueError, match="suggest_experiments"):
        uge.pl.experiment_suggestions(ranking, show=False)
