from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch

import uge


def test_predict_labels(trained):
    model, a = trained
    adata = a.copy()
    before = {k: set(getattr(adata, k).keys()) for k in ("obs", "obsm", "layers", "uns")}
    quiet = model.predict_labels("mouse", "rat", adata=adata)  # returns, writes nothing
    assert {k: set(getattr(adata, k).keys()) for k in before} == before
    table = model.predict_labels("mouse", "rat", adata=adata, key_added="uge_prediction")
    pd.testing.assert_frame_equal(quiet, table)
    rat = (adata.obs["species"] == "rat").to_numpy()
    assert list(table.columns) == ["prediction", "confidence"]
    assert list(table.index) == list(adata.obs_names[rat])
    assert "X_uge" not in adata.obsm
    assert adata.obs["uge_prediction"][~rat].isna().all()
    assert (adata.obs["uge_prediction"][rat] == table["prediction"]).all()
    assert np.isnan(adata.obs["uge_prediction_confidence"][~rat]).all()
    assert adata.uns["uge"]["uge_prediction"]["params"]["method"] == "knn"
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


def test_scores_read_true_labels_when_the_target_is_hidden():
    obs = pd.DataFrame(
        {"species": ["m"] * 4 + ["r"] * 4, "label": ["A", "A", "B", "B"] * 2},
        index=[f"s{i}" for i in range(8)],
    )
    obs["ref"] = obs["label"].where(obs["species"] == "m", "Unknown")
    adata = ad.AnnData(np.zeros((8, 1)), obs=obs)
    adata.obsm["rep"] = np.array([[0], [0], [5], [5], [0], [5], [5], [5]], dtype=float)
    uge.tl.transfer_labels(adata, "ref", "m", "r", use_rep="rep", n_neighbors=1)
    with pytest.raises(ValueError, match="pass labels_key"):
        uge.tl.annotation_scores(adata)  # "Unknown" is the target's only label in "ref"
    scores = uge.tl.annotation_scores(adata, labels_key="label")
    assert scores.loc["overall", "accuracy"] == 0.75  # A, B, B, B against A, A, B, B
    assert scores.loc["A", "chance_accuracy"] == 0.5
    with pytest.raises(KeyError, match="nope"):
        uge.tl.annotation_scores(adata, labels_key="nope")


def test_scores_need_a_transfer():
    with pytest.raises(KeyError, match="predict_labels"):
        uge.tl.annotation_scores(ad.AnnData(np.zeros((2, 1))))


def _semi_supervised(adata: ad.AnnData) -> pd.Series:
    """Hide the rat's organs (scANVI style); return the truth."""
    truth = adata.obs["organ"].astype(str).copy()
    adata.obs["organ_ref"] = np.where(adata.obs["species"] == "mouse", truth, "Unknown")
    uge.UGE.setup_anndata(
        adata, labels_key="organ_ref", condition_key="drug", unlabeled_category="Unknown"
    )
    return truth


@pytest.mark.slow
def test_classifier_trained_on_labelled_samples_only(adata):
    truth = _semi_supervised(adata)
    model = uge.UGE(adata, orthologs=adata.uns["orthologs"], d_model=32, n_heads=2, max_tokens=64)
    assert model.module.classifier is not None  # on by default with an unlabeled_category
    assert model.unlabeled_category_ == "Unknown" and sorted(model.labels_) == ["brain", "liver"]
    untrained = model.predict_labels("mouse", "rat", method="classifier")
    model.train(max_epochs=30, enable_progress_bar=False)
    assert model.history["classification_train"].iloc[-1, 0] < 0.1
    pred = model.predict_labels("mouse", "rat", key_added="uge_prediction")  # auto: classifier
    info = adata.uns["uge"]["uge_prediction"]["params"]
    assert info["method"] == "classifier" and info["trained_on"] == {"mouse": 80}
    acc = (pred["prediction"].astype(str) == truth[pred.index]).mean()
    acc_untrained = (untrained["prediction"].astype(str) == truth[pred.index]).mean()
    assert acc > 0.9 and acc > acc_untrained + 0.2
    assert (adata.obs["organ_ref"][adata.obs["species"] == "rat"] == "Unknown").all()
    knn = model.predict_labels("mouse", "rat", method="knn")
    assert (knn["prediction"].astype(str) == truth[knn.index]).mean() > 0.9


def test_no_classifier_without_unlabeled_category(trained):
    model, _ = trained
    assert model.module.classifier is None
    with pytest.raises(ValueError, match="no label classifier"):
        model.predict_labels("mouse", "rat", method="classifier")
    with pytest.raises(ValueError, match="method must be"):
        model.predict_labels("mouse", "rat", method="svm")


def test_classifier_needs_labels(adata):
    uge.UGE.setup_anndata(adata, condition_key="drug")
    with pytest.raises(ValueError, match="needs at least two labels"):
        uge.UGE(adata, classification_weight=1.0)


def test_unlabelled_samples_are_left_out_of_the_reactome(adata):
    _semi_supervised(adata)
    model = uge.UGE(adata, orthologs=adata.uns["orthologs"], d_model=16, n_heads=2)
    # rat has no labelled sample: no reactome column is shared, only the prior is aligned
    assert model.gene_alignment_["added"] == 0 and model.gene_alignment_["overridden"] == 0


def test_knn_votes_at_most_a_typical_label_size():
    rep = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2], [0.05], [5.05]])
    obs = pd.DataFrame(
        {"species": ["m"] * 6 + ["r"] * 2, "organ": ["a", "a", "a", "b", "b", "b", "?", "?"]}
    )
    adata = ad.AnnData(np.zeros((8, 1)), obs=obs.set_index(obs.index.astype(str)))
    adata.obsm["X"] = rep
    pred = uge.tl.transfer_labels(adata, "organ", "m", "r", use_rep="X", n_neighbors=15)
    assert list(pred["prediction"].astype(str)) == ["a", "b"]
    assert adata.uns["uge"]["uge_prediction"]["params"]["n_neighbors"] == 3


def test_classifier_trains_with_one_labelled_sample_in_a_minibatch(adata):
    truth = adata.obs["organ"].astype(str)
    first = np.flatnonzero(adata.obs["species"] == "mouse")[:2]
    adata.obs["organ_ref"] = "Unknown"
    adata.obs.iloc[first, adata.obs.columns.get_loc("organ_ref")] = truth.iloc[first].to_numpy()
    adata.obs.iloc[first[1], adata.obs.columns.get_loc("organ_ref")] = (
        "liver" if truth.iloc[first[0]] == "brain" else "brain"
    )
    uge.UGE.setup_anndata(adata, labels_key="organ_ref", unlabeled_category="Unknown")
    model = uge.UGE(adata, d_model=16, n_heads=2, max_tokens=16)
    model.train(max_epochs=2, batch_size=16, enable_progress_bar=False)
    assert np.isfinite(model.history["classification_train"].to_numpy(float)).all()


def test_classifier_batch_norm_learns_from_every_sample(adata):
    """Unlabelled samples (the target species) pass through the classifier's batch norm:
    with statistics of the labelled source species only, Brawand organ transfer fell from
    0.944 to 0.472 (benchmarks/bench_species.py)."""
    _semi_supervised(adata)
    model = uge.UGE(adata, orthologs=adata.uns["orthologs"], d_model=16, n_heads=2)
    module, classifier = model.module, model.module.classifier
    norm = next(m for m in classifier.modules() if isinstance(m, torch.nn.BatchNorm1d))
    linear = next(m for m in classifier.modules() if isinstance(m, torch.nn.Linear))
    norm.momentum = 1.0  # running statistics = the last minibatch's
    module.train()
    z = torch.randn(20, linear.in_features)
    z[10:] += 10.0  # the unlabelled samples sit elsewhere in the latent space
    labels = torch.tensor([0, 1] * 5 + [module.n_labels] * 10)
    loss = module.classification_loss(z, labels)
    assert torch.isfinite(loss) and loss > 0
    with torch.no_grad():
        h = linear(z)
    torch.testing.assert_close(norm.running_mean, h.mean(0))
    assert not torch.allclose(norm.running_mean, h[:10].mean(0))
