"""Reactomes, gene mapping baselines and their evaluation, against simulator truth."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

import uge
from uge.core import response_similarity


@pytest.fixture(scope="module")
def rewired_study():
    """A study with rewired genes: 3 organs, 2 drugs, 300 genes, 96 samples per species."""
    return uge.datasets.simulate_study(
        n_samples_per_species=96,
        organs=("brain", "liver", "kidney"),
        drugs=("tetracycline", "drug_a"),
        n_genes=300,
        responding_fraction=1.0,
        seed=3,
    )


def test_reactome_matches_truth(study):
    adata = study.copy()
    truth = adata.uns["uge_truth"]["reactome"]
    table = uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
    assert list(table.columns) == ["brain|tetracycline", "liver|tetracycline"]
    np.testing.assert_array_equal(adata.varm["uge_reactome"], table.to_numpy())
    assert list(adata.uns["uge"]["uge_reactome"]["columns"]) == list(table.columns)
    assert adata.uns["uge"]["uge_reactome"]["params"]["labels_key"] == "organ"
    assert not table.isna().any().any()
    responding = truth.abs().to_numpy() > 0.5
    r = np.corrcoef(table.to_numpy()[responding], truth.to_numpy()[responding])[0, 1]
    assert r > 0.9
    # non-responding entries stay near 0: the median centring removes compositional shifts
    assert np.median(np.abs(table.to_numpy()[truth.to_numpy() == 0])) < 0.1


def test_reactome_unmeasured_groups_are_nan(study):
    adata = study.copy()
    drop = (
        (adata.obs["species"] == "rat")
        & (adata.obs["organ"] == "liver")
        & (adata.obs["drug"] == "tetracycline")
    ).to_numpy()
    adata = adata[~drop].copy()
    table = uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
    rat = (adata.var["species"] == "rat").to_numpy()
    assert table.loc[rat, "liver|tetracycline"].isna().all()
    assert table.loc[~rat, "liver|tetracycline"].notna().all()
    assert table.loc[rat, "brain|tetracycline"].notna().all()


def test_reactome_min_samples_rule(study):
    adata = study.copy()
    n = int(adata.obs.groupby(["species", "organ", "drug"], observed=True).size().max())
    with pytest.raises(ValueError, match="No group has"):
        uge.tl.reactome(adata, labels_key="organ", condition_key="drug", min_samples=n + 1)
    with pytest.raises(ValueError, match="min_samples"):
        uge.tl.reactome(adata, labels_key="organ", condition_key="drug", min_samples=0)


def test_reactome_of_one_sample_per_label(study):
    """An atlas of organ means: one sample per organ, min_samples=1."""
    adata = study[(study.obs["drug"] == "control").to_numpy()].copy()
    full = uge.tl.reactome(adata, labels_key="organ", key_added=None)
    first = adata.obs.groupby(["species", "organ"], observed=True).head(1).index
    one = adata[first].copy()
    with pytest.raises(ValueError, match="No group has 3"):
        uge.tl.reactome(one, labels_key="organ", key_added=None)
    table = uge.tl.reactome(one, labels_key="organ", min_samples=1, key_added=None)
    assert list(table.columns) == ["brain", "liver"] and table.notna().all().all()
    genes = one.var_names[one.var["species"] == "mouse"]
    assert np.corrcoef(table.loc[genes, "brain"], full.loc[genes, "brain"])[0, 1] > 0.5


def test_reactome_label_profiles_without_condition(study):
    adata = study.copy()
    control = (adata.obs["drug"] == "control").to_numpy()
    adata = adata[control].copy()
    table = uge.tl.reactome(adata, labels_key="organ")
    assert list(table.columns) == ["brain", "liver"]
    gm = study.uns["uge_truth"]["group_means"]
    genes = adata.var_names[adata.var["species"] == "mouse"]
    true_diff = gm.loc["mouse|brain|control", genes] - gm.loc["mouse|liver|control", genes]
    diff = table.loc[genes, "brain"] - table.loc[genes, "liver"]
    big = np.abs(true_diff) > 0.5
    assert np.corrcoef(diff[big], true_diff[big])[0, 1] > 0.9


def test_reactome_errors(study):
    adata = study.copy()
    with pytest.raises(KeyError, match="nope"):
        uge.tl.reactome(adata, labels_key="nope")
    with pytest.raises(ValueError, match="needs labels"):
        uge.tl.reactome(adata)
    with pytest.raises(ValueError, match="control"):
        uge.tl.reactome(adata, labels_key="organ", condition_key="drug", control_condition="x")


def test_map_genes_by_reactome_finds_rewired_partners_from_true_reactomes(rewired_study):
    """With noise-free reactomes every rewired gene's functional partner is found first."""
    adata = rewired_study.copy()
    truth = adata.uns["uge_truth"]
    adata.varm["true"] = truth["reactome"].to_numpy()
    adata.uns["uge"] = {"true": {"columns": np.asarray(truth["reactome"].columns, dtype=object)}}
    mapping = uge.tl.map_genes_by_reactome(adata, "mouse", "rat", top_k=5, key="true")
    assert list(mapping.columns) == ["source_gene", "target_gene", "score", "rank"]
    n_mouse = int((adata.var["species"] == "mouse").sum())
    assert len(mapping) == 5 * n_mouse
    scores = uge.tl.evaluate_gene_mapping(mapping, truth["functional_map"])
    assert scores.loc["rewired", "n"] > 0
    assert scores.loc["rewired", "top1"] == 1.0


def test_map_genes_by_reactome_measured(rewired_study):
    adata = rewired_study.copy()
    fmap = adata.uns["uge_truth"]["functional_map"]
    uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
    scores = uge.tl.evaluate_gene_mapping(uge.tl.map_genes_by_reactome(adata, "mouse", "rat"), fmap)
    n_rat = int((adata.var["species"] == "rat").sum())
    # far above random (10 of n_rat) for the rewired genes, which all respond
    assert scores.loc["rewired", "top10"] > 0.5 > 10 / n_rat


def test_map_genes_by_reactome_errors(study):
    adata = study.copy()
    with pytest.raises(KeyError, match="compute it first"):
        uge.tl.map_genes_by_reactome(adata, "mouse", "rat")
    drop = ((adata.obs["species"] == "rat") & (adata.obs["drug"] == "tetracycline")).to_numpy()
    adata = adata[~drop].copy()
    uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
    with pytest.raises(ValueError, match="no reactome column in common"):
        uge.tl.map_genes_by_reactome(adata, "mouse", "rat")
    with pytest.raises(ValueError, match="not a species"):
        uge.tl.map_genes_by_reactome(adata, "mouse", "dog")
    with pytest.raises(ValueError, match="must differ"):
        uge.tl.map_genes_by_reactome(adata, "mouse", "mouse")
    full = study.copy()
    uge.tl.reactome(full, labels_key="organ", condition_key="drug")
    with pytest.raises(ValueError, match="top_k"):
        uge.tl.map_genes_by_reactome(full, "mouse", "rat", top_k=0)


def test_map_genes_by_coexpression(study):
    adata = study.copy()
    orthologs = adata.uns["orthologs"]
    fmap = adata.uns["uge_truth"]["functional_map"]
    mapping = uge.tl.map_genes_by_coexpression(adata, "mouse", "rat", orthologs)
    scores = uge.tl.evaluate_gene_mapping(mapping, fmap)
    n_rat = int((adata.var["species"] == "rat").sum())
    assert scores.loc["one_to_one", "top10"] > 3 * 10 / n_rat
    with pytest.raises(ValueError, match="anchor"):
        uge.tl.map_genes_by_coexpression(adata, "mouse", "rat", orthologs.iloc[:1])


def test_evaluate_gene_mapping_by_hand():
    mapping = pd.DataFrame(
        {
            "source_gene": ["a", "a", "a", "b", "b", "c"],
            "target_gene": ["x", "y", "z", "y", "x", "z"],
            "rank": [1, 2, 3, 1, 2, 1],
        }
    )
    reference = pd.DataFrame(
        {
            "source_gene": ["a", "a", "b", "c", "d"],
            "target_gene": ["x", "y", "x", "x", "x"],
            "kind": ["many", "many", "one", "one", "one"],
        }
    )
    scores = uge.tl.evaluate_gene_mapping(mapping, reference, ks=(1, 2))
    # a has two true partners at ranks 1 and 2: both count as rank 1 (filtered rank)
    # b's partner is at rank 2; c's partner is absent; d is not mapped at all
    assert scores.loc["many", "top1"] == 1.0
    assert scores.loc["one", "top1"] == 0.0
    assert scores.loc["one", "top2"] == pytest.approx(1 / 3)
    assert scores.loc["overall", "mrr"] == pytest.approx((1 + 1 + 0.5 + 0 + 0) / 5)
    assert scores.loc["overall", "n"] == 5
    with pytest.raises(KeyError, match="rank"):
        uge.tl.evaluate_gene_mapping(mapping.drop(columns="rank"), reference)
    with pytest.raises(ValueError, match="no gene pairs"):
        uge.tl.evaluate_gene_mapping(mapping, reference.iloc[:0])


def test_response_similarity():
    a = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    b = np.array([[1.0, 2.0, 0.0], [4.0, 8.0, 0.0], [-1.0, -2.0, 0.0]])
    s = response_similarity(a, b)
    assert s[0, 0] == pytest.approx(1.0)
    assert s[0, 1] == pytest.approx(2 * 20 / (5 + 80))  # same direction, 4x the size
    assert s[0, 2] == pytest.approx(-1.0)
    assert (s[1] == 0).all()


# ----------------------------------------------------------------- predict_reactome
def _cp_table(seed: int = 0, noise: float = 0.1) -> pd.DataFrame:
    """Genes x 'organ|drug' responses from a rank-3 gene x organ x drug factorisation."""
    rng = np.random.default_rng(seed)
    u, o, d = rng.normal(size=(400, 3)), rng.normal(size=(4, 3)), rng.normal(size=(6, 3))
    x = np.einsum("gk,ok,dk->god", u, o, d) + rng.normal(size=(400, 4, 1))
    x += noise * rng.normal(size=x.shape)
    columns = [f"o{a}|d{b}" for a in range(4) for b in range(6)]
    return pd.DataFrame(x.reshape(400, -1), index=[f"g{i}" for i in range(400)], columns=columns)


def test_predict_reactome_recovers_held_out_columns():
    table = _cp_table()
    masked = table.copy()
    held = ["o2|d3", "o0|d5"]
    masked[held] = np.nan
    pred = uge.tl.predict_reactome(masked, rank=3)
    assert list(pred.columns) == list(table.columns) and pred.index.equals(table.index)
    for col in held:
        organ = col.split("|")[0]
        others = [c for c in table.columns if c.startswith(organ + "|") and c not in held]
        r = np.corrcoef(pred[col], table[col])[0, 1]
        r_mean = np.corrcoef(masked[others].mean(1), table[col])[0, 1]
        assert r > 0.9 and r > r_mean + 0.1
    # measured columns are fitted, not copied; a subset can be asked for
    assert np.corrcoef(pred["o1|d1"], table["o1|d1"])[0, 1] > 0.95
    sub = uge.tl.predict_reactome(masked, labels=["o2"], conditions=["d3"], rank=3)
    assert list(sub.columns) == ["o2|d3"]
    np.testing.assert_allclose(sub["o2|d3"], pred["o2|d3"])


@pytest.mark.parametrize("orientation", ["conditions", "labels"])
def test_predict_reactome_one_label_or_condition(orientation):
    """One stimulus in four species (one label, the species as conditions, or the other
    way round): a hidden species' column is its share of the response the others agree
    on, not a constant."""
    rng = np.random.default_rng(0)
    shared = rng.normal(0, 1, 400)
    species = ["a", "b", "c", "d"]
    values = {s: shared + rng.normal(0, 0.7, 400) for s in species}
    name = (lambda s: f"fibroblast|{s}") if orientation == "conditions" else (lambda s: f"{s}|x")
    table = pd.DataFrame({name(s): v for s, v in values.items()})
    table[name("a")] = np.nan
    pred = uge.tl.predict_reactome(table, rank=1)[name("a")]
    assert pred.std() > 0.3
    assert np.corrcoef(pred, values["a"])[0, 1] > 0.75  # the mean of b, c, d reaches ~0.8


def test_predict_reactome_reads_uge_tl_reactome(study):
    adata = study.copy()
    uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
    pred = uge.tl.predict_reactome(adata, rank=2)
    assert list(pred.columns) == ["brain|tetracycline", "liver|tetracycline"]
    assert pred.index.equals(adata.var_names)
    assert np.isfinite(pred.to_numpy()).all()


def _two_organ_table(seed: int = 0) -> pd.DataFrame:
    """Liver and kidney signatures of 12 drugs in 4 families: kidney = a shared kidney
    response plus each gene's own share of the drug's liver response, plus noise."""
    rng = np.random.default_rng(seed)
    n_genes, family = 500, rng.normal(size=(4, 500))
    drug = np.repeat(family, 3, axis=0) + 0.5 * rng.normal(size=(12, n_genes))
    gain = rng.uniform(0.0, 1.5, n_genes)
    kidney_mean = rng.normal(size=n_genes)
    table = {}
    for d in range(12):
        table[f"liver|d{d}"] = drug[d] + 0.3 * rng.normal(size=n_genes)
        table[f"kidney|d{d}"] = kidney_mean + gain * drug[d] + 0.3 * rng.normal(size=n_genes)
    return pd.DataFrame(table, index=[f"g{i}" for i in range(n_genes)])


def test_predict_reactome_neighbours_beats_the_mean_of_other_drugs():
    table = _two_organ_table()
    masked = table.copy()
    masked["kidney|d0"] = np.nan
    pred = uge.tl.predict_reactome(masked, method="neighbours")
    assert sorted(pred.columns) == sorted(table.columns)
    others = [f"kidney|d{d}" for d in range(1, 12)]
    r = np.corrcoef(pred["kidney|d0"], table["kidney|d0"])[0, 1]
    r_mean = np.corrcoef(masked[others].mean(1), table["kidney|d0"])[0, 1]
    r_cp = np.corrcoef(uge.tl.predict_reactome(masked, rank=3)["kidney|d0"], table["kidney|d0"])[
        0, 1
    ]
    assert r > r_mean + 0.1 and r > r_cp
    # a measured column is predicted without reading it: as if it were unmeasured
    fit, data = pred["kidney|d1"], table["kidney|d1"]
    assert 0.6 < np.corrcoef(fit, data)[0, 1] < 0.99
    hidden = masked.copy()
    hidden["kidney|d1"] = np.nan
    alone = uge.tl.predict_reactome(
        hidden, labels=["kidney"], conditions=["d1"], method="neighbours"
    )["kidney|d1"]
    np.testing.assert_allclose(fit, alone)
    sub = uge.tl.predict_reactome(masked, labels=["kidney"], conditions=["d0"], method="neighbours")
    np.testing.assert_allclose(sub["kidney|d0"], pred["kidney|d0"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "knn"}, "method must be 'factorisation' or 'neighbours'"),
        ({"labels": ["o9"]}, "labels \\['o9'\\] are not in the reactome"),
        ({"conditions": ["x"]}, "conditions \\['x'\\] are not"),
        ({"rank": 0}, "rank must be a positive integer"),
        ({"ridge": -1.0}, "ridge must be non-negative"),
    ],
)
def test_predict_reactome_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        uge.tl.predict_reactome(_cp_table(), **kwargs)


def test_predict_reactome_bad_tables():
    table = _cp_table()
    with pytest.raises(ValueError, match="named 'label\\|condition'"):
        uge.tl.predict_reactome(table.rename(columns={"o0|d0": "o0"}))
    with pytest.raises(ValueError, match="no measured entry"):
        uge.tl.predict_reactome(table * np.nan)
    with pytest.raises(KeyError, match=r"uge\.tl\.reactome"):
        uge.tl.predict_reactome(ad.AnnData(np.zeros((2, 3))))


def test_suggest_experiments_expects_the_errors_prediction_would_make():
    """Label o3 was measured under one drug only; the others miss one drug each. The
    expected error of each candidate tracks the error predicting it actually makes."""
    missing = [f"o3|d{b}" for b in range(1, 6)] + ["o0|d5", "o1|d4", "o2|d3"]
    rhos = []
    for seed in range(3):
        table = _cp_table(seed)
        masked = table.copy()
        masked[missing] = np.nan
        top = uge.tl.suggest_experiments(masked, n=8, rank=3)
        columns = ["label", "condition", "expected_error", "disagreement", "predicted_size"]
        assert list(top.columns) == [*columns, "rank"]
        assert list(top["rank"]) == list(range(1, 9))
        assert top["expected_error"].is_monotonic_decreasing
        picked = [f"{a}|{b}" for a, b in zip(top["label"], top["condition"], strict=True)]
        assert sorted(picked) == sorted(missing)
        pred = uge.tl.predict_reactome(masked, rank=3)
        actual = [((pred[c] - table[c]) ** 2).mean() for c in picked]
        rhos.append(spearmanr(top["expected_error"], actual).statistic)
    assert np.mean(rhos) > 0.4
    with pytest.raises(ValueError, match="measured already"):
        uge.tl.suggest_experiments(_cp_table())
    with pytest.raises(ValueError, match="n_models"):
        uge.tl.suggest_experiments(masked, n_models=1)
    with pytest.raises(ValueError, match="holdout"):
        uge.tl.suggest_experiments(masked, holdout=0.0)


def test_model_suggest_experiments_ranks_the_species_unmeasured_combinations():
    """Rat missed kidney x drug_a (nobody measured it) and liver x tetracycline (mouse
    did): exactly these are the candidates, ranked as uge.tl ranks rat's own reactome."""
    study = uge.datasets.simulate_study(
        n_samples_per_species=120,
        organs=("brain", "liver", "kidney"),
        drugs=("tetracycline", "drug_a"),
        n_genes=150,
        seed=1,
    )
    obs = study.obs
    gap = lambda sp, organ, drug: (  # noqa: E731
        (obs["species"] == sp) & (obs["organ"] == organ) & (obs["drug"] == drug)
    ).to_numpy()
    drop = gap("rat", "kidney", "drug_a") | gap("mouse", "kidney", "drug_a")
    drop |= gap("rat", "liver", "tetracycline")
    adata = study[~drop].copy()
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    model = uge.UGE(adata, d_model=8, n_heads=2, max_tokens=16)
    top = model.suggest_experiments("rat", n=5, rank=2, n_models=4)
    assert sorted(zip(top["label"], top["condition"], strict=True)) == [
        ("kidney", "drug_a"),
        ("liver", "tetracycline"),
    ]
    measured_in = dict(zip(top["label"], top["measured_in"], strict=True))
    assert measured_in == {"kidney": "", "liver": "mouse"}
    own = adata.copy()
    uge.tl.reactome(own, labels_key="organ", condition_key="drug")
    rat = (own.var["species"] == "rat").to_numpy()
    table = pd.DataFrame(
        own.varm["uge_reactome"][rat],
        index=own.var_names[rat],
        columns=own.uns["uge"]["uge_reactome"]["columns"],
    )
    want = uge.tl.suggest_experiments(table, n=5, rank=2, n_models=4)
    pd.testing.assert_frame_equal(top.drop(columns="measured_in"), want)
    with pytest.raises(ValueError, match="dog"):
        model.suggest_experiments("dog")
    no_condition = study.copy()
    uge.UGE.setup_anndata(no_condition, labels_key="organ")
    with pytest.raises(ValueError, match="condition_key"):
        uge.UGE(no_condition, d_model=8, n_heads=2, max_tokens=16).suggest_experiments("rat")
