from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import uge


def test_predict_labels(trained):
    model, a = trained
    adata = a.copy()
    table = model.predict_labels("mouse", "rat", adata=adata)
    rat = (adata.obs["species"] == "rat").to_numpy()
    assert list(table.columns) == ["prediction", "confidence"]
    assert list(table.index) == list(adata.obs_names[rat])
    assert "X_uge" in adata.obsm
    assert adata.obs["uge_prediction"][~rat].isna().all()
    assert np.isnan(adata.obs["uge_confidence"][~rat]).all()
    assert table["confidence"].between(0, 1).all()
    scores = uge.tl.annotation_scores(adata)
    assert scores.loc["overall", "accuracy"] > 0.9
    assert scores.loc["overall", "accuracy"] > scores.loc["overall", "chance_accuracy"] + 0.3
    assert set(scores.index) == {"brain", "liver", "overall"}


def test_low_confidence_is_unknown(trained):
    model, a = trained
    adata = a.copy()
    table = model.predict_labels("mouse", "rat", adata=adata, min_confidence=1.0)
    unsure = table["confidence"] < 1.0
    assert (table.loc[unsure, "prediction"] == "unknown").all()
    assert (table.loc[~unsure, "prediction"] != "unknown").all()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"source_species": "human", "target_species": "rat"}, ValueError, "human"),
        ({"source_species": "mouse", "target_species": "mouse"}, ValueError, "the same"),
        ({"source_species": "mouse", "target_species": "rat", "labels_key": "x"}, KeyError, "x"),
    ],
)
def test_predict_labels_errors(trained, kwargs, error, match):
    model, a = trained
    with pytest.raises(error, match=match):
        model.predict_labels(adata=a.copy(), **kwargs)


def test_chance_model_by_hand():
    """Source 75% A / 25% B; target 50/50; a fixed prediction gives known scores."""
    obs = pd.DataFrame(
        {
            "species": ["m"] * 4 + ["r"] * 4,
            "label": ["A", "A", "A", "B", "A", "A", "B", "B"],
        },
        index=[f"s{i}" for i in range(8)],
    )
    adata = ad.AnnData(np.zeros((8, 1)), obs=obs)
    adata.obsm["rep"] = np.array([[0], [0], [0], [5], [0], [0], [0], [5]], dtype=float)
    uge.tl.transfer_labels(adata, "label", "m", "r", use_rep="rep", n_neighbors=1)
    scores = uge.tl.annotation_scores(adata)
    # predictions for r: A, A, A (wrong), B
    assert scores.loc["A", "accuracy"] == 1.0 and scores.loc["B", "accuracy"] == 0.5
    assert scores.loc["overall", "accuracy"] == 0.75
    assert scores.loc["A", "chance_accuracy"] == 0.75 and scores.loc["B", "chance_accuracy"] == 0.25
    assert scores.loc["overall", "chance_accuracy"] == pytest.approx(0.5 * 0.75 + 0.5 * 0.25)
    assert scores.loc["B", "chance_f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75)
    assert scores.loc["A", "f1"] == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))


def test_scores_need_a_transfer():
    with pytest.raises(KeyError, match="predict_labels"):
        uge.tl.annotation_scores(ad.AnnData(np.zeros((2, 1))))
