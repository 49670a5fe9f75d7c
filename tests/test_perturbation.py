from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import uge


def _truth_means(truth, organs, genes, condition):
    table = truth["group_means"].loc[[f"rat|{o}|{condition}" for o in organs], genes]
    table.index = organs
    return table


def test_prediction_matches_simulator_truth(heldout):
    model, full, truth = heldout
    pred = model.predict_perturbation("tetracycline", "rat", adata=full.copy())
    rat = full.var_names[full.var["species"] == "rat"]
    organs = ["brain", "liver"]
    observed = _truth_means(truth, organs, rat, "tetracycline")
    control = _truth_means(truth, organs, rat, "control")
    means = uge.tl.pseudobulk(pred, "organ")
    responds = truth["responding"]["tetracycline"]
    on = next(o for o in organs if responds[o])
    off = next(o for o in organs if not responds[o])
    # the predicted change follows the true change where the drug acts (genes with orthologs)
    has_ortholog = truth["genes"].loc[rat, "kind"] != "unique"
    true_change = (observed.loc[on] - control.loc[on])[has_ortholog.to_numpy()]
    degs = true_change.abs().sort_values(ascending=False).index[:20]
    pred_change = means.loc[on, degs] - control.loc[on, degs]
    assert np.corrcoef(pred_change, true_change[degs])[0, 1] > 0.9
    # ... and stays small on those genes where it does not act
    still = (means.loc[off, degs] - control.loc[off, degs]).abs().mean()
    assert still < 0.5 * pred_change.abs().mean()
    # and beats "no change" over the DEGs
    r2 = uge.tl.perturbation_r2(means, observed, 20, control)
    base = uge.tl.perturbation_baselines(
        full, "tetracycline", "mouse", "rat", full.uns["orthologs"], "drug", "organ"
    )
    r2_none = uge.tl.perturbation_r2(base["no change"], observed, 20, control)
    assert r2.loc[on, "r2_degs"] > r2_none.loc[on, "r2_degs"] + 0.1


def test_prediction_anndata_and_layer(heldout):
    model, full, _ = heldout
    adata = full.copy()
    quiet = model.predict_perturbation("tetracycline", "rat", adata=adata)
    assert not adata.layers and "uge" not in adata.uns  # nothing written without key_added
    pred = model.predict_perturbation("tetracycline", "rat", adata=adata, key_added="uge_tc")
    np.testing.assert_array_equal(quiet.X, pred.X)
    rows = ((adata.obs["species"] == "rat") & (adata.obs["drug"] == "control")).to_numpy()
    rat = (adata.var["species"] == "rat").to_numpy()
    assert pred.shape == (rows.sum(), rat.sum())
    assert list(pred.obs_names) == list(adata.obs_names[rows])
    assert list(pred.var_names) == list(adata.var_names[rat])
    assert (pred.obs["uge_shift_from"] == "mouse, same label").all()
    assert pred.uns["uge"]["scale"] == "counts" and pred.uns["uge"]["source_species"] == "mouse"
    # expected counts at each sample's own library size
    x = np.asarray(pred.X)
    lib = np.asarray(adata.X[rows][:, rat].sum(1)).ravel()
    np.testing.assert_allclose(x.sum(1), lib, rtol=1e-4)
    layer = adata.layers["uge_tc"]
    assert adata.uns["uge"]["uge_tc"]["params"] == pred.uns["uge"]
    np.testing.assert_allclose(layer[np.ix_(rows, rat)], x)
    assert np.all(layer[np.ix_(rows, ~rat)] == 0)
    assert np.isnan(layer[~rows]).all()


def test_labels_and_layer_name(heldout):
    model, full, _ = heldout
    adata = full.copy()
    pred = model.predict_perturbation(
        "tetracycline", "rat", labels=["brain"], key_added="uge_x", adata=adata
    )
    assert set(pred.obs["organ"]) == {"brain"}
    assert "uge_x" in adata.layers and "uge_tetracycline" not in adata.layers
    filled = ~np.isnan(adata.layers["uge_x"]).all(1)
    assert filled.sum() == pred.n_obs


def test_condition_token_method(heldout):
    model, full, _ = heldout
    adata = full.copy()
    a = model.predict_perturbation("tetracycline", "rat", adata=adata)
    b = model.predict_perturbation("tetracycline", "rat", adata=adata, method="condition_token")
    assert b.uns["uge"]["method"] == "condition_token"
    assert a.shape == b.shape and not np.allclose(a.X, b.X)


def test_several_source_species(heldout):
    """Shifts of several species are averaged: here mouse's and rat's own (the full data
    has rat x tetracycline, which the model never trained on)."""
    model, full, _ = heldout
    adata = full.copy()
    both = model.predict_perturbation(
        "tetracycline", "rat", source_species=["mouse", "rat"], adata=adata
    )
    assert both.uns["uge"]["source_species"] == ["mouse", "rat"]
    assert (both.obs["uge_shift_from"] == "mouse, same label + rat, same label").all()
    obs = model._sample_groups(adata, "tetracycline")
    rows = model._perturbation_rows(obs, "rat", None)
    offsets = [
        model._label_offsets(adata, obs, rows, "tetracycline", s, None)[0].numpy()
        for s in (["mouse"], ["rat"], ["mouse", "rat"])
    ]
    np.testing.assert_allclose(offsets[2], (offsets[0] + offsets[1]) / 2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(offsets[0], offsets[1])
    one = model.predict_perturbation("tetracycline", "rat", source_species="mouse", adata=adata)
    assert not np.allclose(one.X, both.X)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"condition": "aspirin", "target_species": "rat"}, "not a treated condition"),
        ({"condition": "control", "target_species": "rat"}, "not a treated condition"),
        ({"condition": "tetracycline", "target_species": "human"}, "not one of the model's"),
        ({"condition": "tetracycline", "target_species": "rat", "labels": ["gut"]}, "gut"),
        ({"condition": "tetracycline", "target_species": "rat", "method": "x"}, "method"),
        (
            {"condition": "tetracycline", "target_species": "rat", "source_species": "dog"},
            "source_species='dog' is not one of",
        ),
        (
            {"condition": "tetracycline", "target_species": "rat", "source_species": ["mouse"] * 2},
            "several different",
        ),
    ],
)
def test_prediction_errors(heldout, kwargs, match):
    model, full, _ = heldout
    with pytest.raises(ValueError, match=match):
        model.predict_perturbation(adata=full.copy(), **kwargs)


@pytest.mark.slow
def test_within_species_from_other_labels():
    """Rat liver under tetracycline, never measured, from rat's other organs (no mouse drug
    data). In this study tetracycline acts in brain and liver, not in kidney."""
    full = uge.datasets.simulate_study(
        n_samples_per_species=90,
        organs=("brain", "liver", "kidney"),
        drugs=("tetracycline",),
        n_genes=150,
        rewired_fraction=0.0,
        seed=1,
    )
    truth = full.uns.pop("uge_truth")
    obs = full.obs
    drop = (obs["drug"] == "tetracycline") & (
        (obs["species"] == "mouse") | (obs["organ"] == "liver")
    )
    train = full[~drop.to_numpy()].copy()
    uge.UGE.setup_anndata(train, labels_key="organ", condition_key="drug")
    model = uge.UGE(train, orthologs=train.uns["orthologs"], d_model=32, n_heads=2, max_tokens=64)
    model.train(max_epochs=60, enable_progress_bar=False)
    pred = model.predict_perturbation("tetracycline", "rat")  # source: rat itself
    assert pred.uns["uge"]["source_species"] == "rat"
    shift_from = pred.obs.groupby("organ", observed=True)["uge_shift_from"].first()
    assert shift_from.to_dict() == {
        "brain": "rat, same label",
        "kidney": "rat, same label",
        "liver": "rat, mean over labels",
    }
    rat = train.var_names[train.var["species"] == "rat"]
    means = uge.tl.pseudobulk(pred, "organ")
    observed = _truth_means(truth, ["liver"], rat, "tetracycline")
    control = _truth_means(truth, ["liver"], rat, "control")
    base = uge.tl.perturbation_baselines(
        train, "tetracycline", "rat", "rat", None, "drug", "organ", labels=["liver"]
    )
    # the predicted change follows the true change on the liver's top DEGs
    true = (observed - control).loc["liver"]
    degs = true.abs().sort_values(ascending=False).index[:20]
    pred_change = means.loc["liver", degs] - control.loc["liver", degs]
    assert np.corrcoef(pred_change, true[degs])[0, 1] > 0.5
    r2 = uge.tl.perturbation_r2(means.loc[["liver"]], observed, 20, control)
    r2_none = uge.tl.perturbation_r2(base["no change"], observed, 20, control)
    assert r2.loc["liver", "r2_degs"] > r2_none.loc["liver", "r2_degs"]
    # the additive baseline within one species: control plus the other organs' mean shift
    assert (base["additive"] - base["no change"]).abs().to_numpy().max() > 0.5
    # the same latent arithmetic gives the reactome of a combination no species measured
    reactome = model.predict_reactome("rat", labels=["liver"], conditions=["tetracycline"])
    assert reactome.attrs["shift_from"] == {"liver|tetracycline": "mean over other labels"}
    true_lfc = truth["reactome"].loc[degs, "liver|tetracycline"]
    assert np.corrcoef(reactome.loc[degs, "liver|tetracycline"], true_lfc)[0, 1] > 0.5


def test_prediction_needs_a_condition(adata):
    uge.UGE.setup_anndata(adata, labels_key="organ")
    model = uge.UGE(adata, d_model=16, n_heads=2, max_tokens=16)
    with pytest.raises(ValueError, match="without a condition"):
        model.predict_perturbation("tetracycline", "rat")


def _toy():
    """Two species, known counts: mouse genes a, b; rat genes a1, a2 (both orthologs of a), c."""
    x = np.array(
        [
            [10, 30, 0, 0, 0],  # mouse control
            [30, 10, 0, 0, 0],  # mouse drug
            [0, 0, 20, 20, 60],  # rat control
        ],
        dtype=np.float32,
    )
    obs = pd.DataFrame(
        {"species": ["mouse", "mouse", "rat"], "drug": ["control", "drug", "control"]},
        index=["m1", "m2", "r1"],
    )
    var = pd.DataFrame(
        {"species": ["mouse", "mouse", "rat", "rat", "rat"], "gene": ["a", "b", "a1", "a2", "c"]},
        index=["mouse:a", "mouse:b", "rat:a1", "rat:a2", "rat:c"],
    )
    orthologs = pd.DataFrame({"mouse": ["a", "a"], "rat": ["a1", "a2"]})
    return ad.AnnData(x, obs=obs, var=var), orthologs


def test_pseudobulk_is_log_of_mean_cp10k():
    adata, _ = _toy()
    pb = uge.tl.pseudobulk(adata, "species")
    np.testing.assert_allclose(pb.loc["mouse", ["mouse:a", "mouse:b"]], np.log1p([5000, 5000]))
    np.testing.assert_allclose(pb.loc["rat", "rat:c"], np.log1p(6000))


def test_baselines_by_hand():
    adata, orthologs = _toy()
    base = uge.tl.perturbation_baselines(adata, "drug", "mouse", "rat", orthologs, "drug")
    ctrl = np.log1p(np.array([2000, 2000, 6000]))
    np.testing.assert_allclose(base["no change"].loc["all"], ctrl)
    shift_a = np.log1p(7500) - np.log1p(2500)
    np.testing.assert_allclose(base["additive"].loc["all"], ctrl + np.array([shift_a, shift_a, 0]))
    assert list(base["additive"].columns) == ["rat:a1", "rat:a2", "rat:c"]
    none = uge.tl.perturbation_baselines(adata, "drug", "mouse", "rat", None, "drug")
    pd.testing.assert_frame_equal(none["additive"], none["no change"])


def test_perturbation_r2():
    rng = np.random.default_rng(0)
    obs = pd.DataFrame(rng.normal(size=(2, 50)), index=["g1", "g2"])
    ctrl = obs.copy()
    ctrl.iloc[:, :5] -= 3  # the first five genes are the DEGs
    perfect = uge.tl.perturbation_r2(obs, obs, 5, ctrl)
    assert np.allclose(perfect["r2"], 1.0) and np.allclose(perfect["r2_degs"], 1.0)
    noisy = obs + rng.normal(scale=1.0, size=obs.shape)
    worse = uge.tl.perturbation_r2(noisy, obs, 5, ctrl)
    assert (worse["r2"] < 0.9).all() and "r2_degs" in worse
    assert "r2_degs" not in uge.tl.perturbation_r2(obs, obs)
    with pytest.raises(ValueError, match="share 0 groups"):
        uge.tl.perturbation_r2(obs.rename(index={"g1": "x", "g2": "y"}), obs)
