"""Tests of the simulated cross-species drug study (`uge.datasets.simulate_study`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from uge.datasets import simulate_study

ORGANS = ["brain", "heart", "kidney", "liver", "lung", "muscle", "pancreas", "spleen"]
ORGANS += ["stomach", "thymus"]
DRUGS = ["tetracycline", "drug_a", "drug_b"]


@pytest.fixture(scope="module")
def study():
    return simulate_study(seed=0)


def _dense(x) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def _lognorm(adata, species: str) -> tuple[np.ndarray, pd.DataFrame, pd.Index]:
    """log1p(CP10k) of one species' samples on its own genes."""
    obs_mask = (adata.obs["species"] == species).to_numpy()
    var_mask = (adata.var["species"] == species).to_numpy()
    x = _dense(adata.X[obs_mask][:, var_mask]).astype(np.float64)
    x = np.log1p(1e4 * x / x.sum(axis=1, keepdims=True))
    return x, adata.obs.loc[obs_mask], adata.var_names[var_mask]


def _observed_reactome(adata, species: str) -> pd.DataFrame:
    """Mean log-normalised difference drug - control per organ, genes x "<organ>|<drug>"."""
    x, obs, genes = _lognorm(adata, species)
    organ, drug = obs["organ"].to_numpy(), obs["drug"].to_numpy()
    drugs = [d for d in obs["drug"].cat.categories if d != "control"]
    cols = {}
    for d in drugs:
        for o in obs["organ"].cat.categories:
            ctrl = x[(organ == o) & (drug == "control")].mean(axis=0)
            cols[f"{o}|{d}"] = x[(organ == o) & (drug == d)].mean(axis=0) - ctrl
    return pd.DataFrame(cols, index=genes)


def _rowwise_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def test_shapes_and_keys(study):
    n_unique, n_families = 100, 900
    n_otm = 90
    assert study.shape == (1000, 1000 + 1000 + n_otm)
    assert list(study.obs["species"].cat.categories) == ["mouse", "rat"]
    assert (study.obs["species"].value_counts() == 500).all()
    assert list(study.obs["organ"].cat.categories) == ORGANS
    assert list(study.obs["drug"].cat.categories) == ["control", *DRUGS]
    assert "batch" not in study.obs
    assert "library_size" in study.obs
    # balanced groups: 500 samples over 40 groups -> 12 or 13 each
    sizes = study.obs.groupby(["species", "organ", "drug"], observed=True).size()
    assert len(sizes) == 80 and sizes.min() == 12 and sizes.max() == 13

    var = study.var
    assert (study.var_names == var["species"].astype(str) + ":" + var["gene"].astype(str)).all()
    mouse_genes = set(var.loc[var["species"] == "mouse", "gene"])
    rat_genes = set(var.loc[var["species"] == "rat", "gene"])
    assert len(mouse_genes) == 1000 and len(rat_genes) == 1000 + n_otm
    assert all(g.startswith("Mg") for g in mouse_genes)
    assert all(g.startswith("Rg") for g in rat_genes)
    assert not mouse_genes & rat_genes

    truth = study.uns["uge_truth"]
    assert set(truth) >= {"reactome", "functional_map", "group_means", "responding", "params"}
    reactome = truth["reactome"]
    assert list(reactome.index) == list(study.var_names)
    assert list(reactome.columns) == [f"{o}|{d}" for d in DRUGS for o in ORGANS]
    gm = truth["group_means"]
    assert gm.shape == (80, study.n_vars)
    assert "rat|liver|tetracycline" in gm.index
    assert list(gm.columns) == list(study.var_names)
    assert gm.loc["mouse|brain|control", var["species"] == "rat"].isna().all()
    assert gm.loc["mouse|brain|control", var["species"] == "mouse"].notna().all()
    resp = truth["responding"]
    assert resp.shape == (10, 3) and list(resp.index) == ORGANS and list(resp.columns) == DRUGS
    assert (resp.sum(axis=0) == 7).all()
    fmap = truth["functional_map"]
    assert list(fmap.columns) == ["source_gene", "target_gene", "kind"]
    assert set(fmap["kind"]) == {"one_to_one", "one_to_many", "rewired"}
    assert (fmap["kind"] == "rewired").sum() == round(0.1 * (n_families - n_otm))
    assert (fmap["kind"] == "one_to_many").sum() == 2 * n_otm
    assert fmap["source_gene"].isin(study.var_names[var["species"] == "mouse"]).all()
    assert fmap["target_gene"].isin(study.var_names[var["species"] == "rat"]).all()
    assert truth["params"]["seed"] == 0 and truth["params"]["n_genes"] == 1000
    assert len(mouse_genes) - fmap["source_gene"].nunique() == n_unique


def test_counts_are_integer_nonnegative_and_species_blocked(study):
    x = _dense(study.X)
    assert np.all(x >= 0)
    assert np.array_equal(x, np.round(x))
    sp_obs = study.obs["species"].to_numpy()[:, None]
    sp_var = study.var["species"].to_numpy()[None, :]
    assert np.all(x[sp_obs != sp_var] == 0)
    assert (x[sp_obs == sp_var] > 0).mean() > 0.5
    # library sizes vary and the totals follow obs["library_size"]
    totals = x.sum(axis=1)
    lib = study.obs["library_size"].to_numpy()
    assert lib.min() >= 2e6 and lib.max() <= 6e6 and lib.max() / lib.min() > 2
    # NB noise of the few most expressed genes moves single totals by up to ~20-40%
    assert abs(np.median(totals / lib) - 1.0) < 0.05
    assert np.corrcoef(totals, lib)[0, 1] > 0.95


def test_deterministic_and_seed_sensitive():
    kwargs = {"n_samples_per_species": 80, "n_genes": 200, "organs": ("a", "b", "c", "d")}
    a = simulate_study(seed=7, **kwargs)
    b = simulate_study(seed=7, **kwargs)
    c = simulate_study(seed=8, **kwargs)
    assert np.array_equal(_dense(a.X), _dense(b.X))
    assert a.obs.equals(b.obs)
    assert list(a.var_names) == list(b.var_names)
    pd.testing.assert_frame_equal(a.uns["orthologs"], b.uns["orthologs"])
    for key in ("reactome", "functional_map", "group_means", "responding", "genes"):
        pd.testing.assert_frame_equal(a.uns["uge_truth"][key], b.uns["uge_truth"][key])
    assert not np.array_equal(_dense(a.X), _dense(c.X))
    assert not a.uns["uge_truth"]["reactome"].equals(c.uns["uge_truth"]["reactome"])
    assert not a.uns["orthologs"].equals(c.uns["orthologs"])


@pytest.mark.parametrize("species", ["mouse", "rat"])
def test_organs_are_separable(study, species):
    x, obs, _ = _lognorm(study, species)
    organ = obs["organ"].to_numpy()
    train = np.arange(len(organ)) % 2 == 0
    organs = np.unique(organ)
    centroids = np.stack([x[train & (organ == o)].mean(axis=0) for o in organs])
    dist = ((x[~train, None, :] - centroids[None]) ** 2).sum(axis=2)
    accuracy = (organs[dist.argmin(axis=1)] == organ[~train]).mean()
    assert accuracy > 0.95


@pytest.mark.parametrize("species", ["mouse", "rat"])
def test_drug_acts_only_in_responding_organs(study, species):
    truth = study.uns["uge_truth"]
    observed = _observed_reactome(study, species)
    true = truth["reactome"].loc[observed.index]
    resp = truth["responding"]
    gm = truth["group_means"]
    for drug in DRUGS:
        for organ in ORGANS:
            col = f"{organ}|{drug}"
            # log1p compresses the changes of genes below ~1 count per 10k: compare the
            # genes expressed above that in the control group
            expressed = (gm.loc[f"{species}|{organ}|control", observed.index] > 1.0).to_numpy()
            assert expressed.mean() > 0.3
            obs_lfc = observed.loc[expressed, col].to_numpy()
            true_lfc = true.loc[expressed, col].to_numpy()
            if resp.loc[organ, drug]:
                assert np.abs(true_lfc).max() > 0.5
                assert np.corrcoef(obs_lfc, true_lfc)[0, 1] > 0.8, col
                assert np.sqrt(np.mean(obs_lfc[np.abs(true_lfc) > 0] ** 2)) > 0.4, col
            else:
                assert np.all(true_lfc == 0)
                # only sampling noise: small and unrelated to any drug target
                assert np.sqrt(np.mean(obs_lfc**2)) < 0.15, col


def test_ortholog_table(study):
    orth = study.uns["orthologs"]
    var = study.var
    assert list(orth.columns) == ["mouse", "rat"]
    assert orth["mouse"].isin(var.loc[var["species"] == "mouse", "gene"]).all()
    assert orth["rat"].isin(var.loc[var["species"] == "rat", "gene"]).all()
    assert not orth.duplicated().any()
    assert len(orth) == 900 + 90
    # one-to-many: 90 mouse genes with two rat genes; every rat gene at most once
    assert (orth["mouse"].value_counts() == 2).sum() == 90
    assert not orth["rat"].duplicated().any()
    # species-specific genes are absent
    genes = study.uns["uge_truth"]["genes"]
    unique = genes.index[genes["kind"] == "unique"]
    assert len(unique) == 200
    paired = set("mouse:" + orth["mouse"]) | set("rat:" + orth["rat"])
    assert not paired & set(unique)
    # the ortholog table agrees with the functional map except for rewired pairs
    fmap = study.uns["uge_truth"]["functional_map"]
    pairs = set(zip("mouse:" + orth["mouse"], "rat:" + orth["rat"], strict=True))
    in_table = [
        (s, t) in pairs for s, t in zip(fmap["source_gene"], fmap["target_gene"], strict=True)
    ]
    in_table = np.array(in_table)
    rewired = (fmap["kind"] == "rewired").to_numpy()
    assert in_table[~rewired].all()
    assert not in_table[rewired].any()
    # rewired rat genes are still in the ortholog table (paired by sequence)
    assert fmap.loc[rewired, "target_gene"].str.removeprefix("rat:").isin(orth["rat"]).all()


def test_rewired_pairs_differ_from_their_orthologs(study):
    truth = study.uns["uge_truth"]
    observed = pd.concat([_observed_reactome(study, "mouse"), _observed_reactome(study, "rat")])
    orth = study.uns["orthologs"]
    src = "mouse:" + orth["mouse"]
    tgt = "rat:" + orth["rat"]
    kind = truth["genes"].loc[tgt, "kind"].to_numpy()
    # only pairs whose mouse gene responds to some drug carry a reactome signal
    responds = (truth["reactome"].loc[src].abs().max(axis=1) > 0.5).to_numpy()
    corr = _rowwise_corr(observed.loc[src].to_numpy(), observed.loc[tgt].to_numpy())
    conserved = corr[(kind == "one_to_one") & responds]
    rewired = corr[(kind == "rewired") & responds]
    assert len(rewired) >= 20
    assert np.median(conserved) > 0.8
    assert np.median(rewired) < 0.3
    assert np.median(conserved) - np.median(rewired) > 0.5
    # the functional map finds the gene that really carries the response
    fmap = truth["functional_map"]
    fmap = fmap[fmap["kind"] == "rewired"]
    src_resp = (truth["reactome"].loc[fmap["source_gene"]].abs().max(axis=1) > 0.5).to_numpy()
    fcorr = _rowwise_corr(
        observed.loc[fmap["source_gene"]].to_numpy(), observed.loc[fmap["target_gene"]].to_numpy()
    )
    assert np.median(fcorr[src_resp]) > 0.8


def test_group_means_match_observed(study):
    gm = study.uns["uge_truth"]["group_means"]
    for species in ("mouse", "rat"):
        x, obs, genes = _lognorm(study, species)
        for organ in ("brain", "liver"):
            for drug in ("control", "tetracycline"):
                mask = ((obs["organ"] == organ) & (obs["drug"] == drug)).to_numpy()
                observed = x[mask].mean(axis=0)
                expected = gm.loc[f"{species}|{organ}|{drug}", genes].to_numpy()
                assert np.corrcoef(observed, expected)[0, 1] > 0.99
                assert np.abs(observed - expected).mean() < 0.15
        # groups differ from each other: the match is not trivial
        a = gm.loc[f"{species}|brain|control", genes].to_numpy()
        b = gm.loc[f"{species}|liver|control", genes].to_numpy()
        assert np.abs(a - b).mean() > 0.1


def test_batch_effect():
    a = simulate_study(n_samples_per_species=80, n_genes=200, batch_effect=0.5, seed=1)
    assert list(a.obs["batch"].cat.categories) == ["batch1", "batch2"]
    assert a.obs["batch"].value_counts().min() == 80
    shift = a.uns["uge_truth"]["batch_shift"]
    assert shift.shape == (2, a.n_vars)
    assert shift.to_numpy().std() > 0.3
    b = simulate_study(n_samples_per_species=80, n_genes=200, batch_effect=0.0, seed=1)
    assert "batch" not in b.obs and "batch_shift" not in b.uns["uge_truth"]


def test_other_designs_and_h5ad_roundtrip(tmp_path):
    import anndata as ad

    a = simulate_study(
        n_samples_per_species=30,
        species=("mouse", "macaque", "rat"),
        organs=("liver", "brain"),
        drugs=("x",),
        n_genes=60,
        batch_effect=0.2,
        seed=2,
    )
    assert list(a.uns["orthologs"].columns) == ["mouse", "macaque", "rat"]
    prefixes = {
        sp: set(a.var.loc[a.var["species"] == sp, "gene"].str[:3])
        for sp in ("mouse", "macaque", "rat")
    }
    assert prefixes == {"mouse": {"Mog"}, "macaque": {"Mag"}, "rat": {"Rag"}}
    path = tmp_path / "study.h5ad"
    a.write_h5ad(path)
    b = ad.read_h5ad(path)
    pd.testing.assert_frame_equal(
        b.uns["uge_truth"]["reactome"], a.uns["uge_truth"]["reactome"], check_names=False
    )
    assert b.uns["orthologs"].shape == a.uns["orthologs"].shape


def test_shared_responsiveness_makes_the_same_organs_respond_to_every_drug():
    """Fully shared: every drug acts in the same organs; independent draws (the default)
    give drugs different responding organs; the share of responding organs holds."""
    drugs = ("tetracycline", "drug_a", "drug_b", "drug_c", "drug_d", "drug_e")

    def responding(**kwargs):
        truth = simulate_study(n_samples_per_species=80, n_genes=100, drugs=drugs, **kwargs)
        return truth.uns["uge_truth"]["responding"].to_numpy()

    shared, independent = responding(shared_responsiveness=1.0), responding()
    assert (shared == shared[:, :1]).all()
    assert not (independent == independent[:, :1]).all()
    for resp in (shared, independent):
        np.testing.assert_array_equal(resp.sum(0), 7)  # 70% of 10 organs per drug


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"organs": ()}, "organs"),
        ({"organs": "liver"}, "organs"),
        ({"species": ("mouse", "mouse")}, "duplicated"),
        ({"drugs": ("control",)}, "control"),
        ({"n_samples_per_species": 39}, "n_samples_per_species"),
        ({"frac_unique": 1.5}, "frac_unique"),
        ({"frac_one_to_many": -0.1}, "frac_one_to_many"),
        ({"rewired_fraction": 2}, "rewired_fraction"),
        ({"responding_fraction": -1}, "responding_fraction"),
        ({"shared_responsiveness": 1.5}, "shared_responsiveness"),
        ({"dispersion": 0}, "dispersion"),
        ({"noise": -0.1}, "noise"),
        ({"library_size": (5, 1)}, "library_size"),
        ({"n_genes": 1}, "gene families"),
        ({"seed": -1}, "seed"),
    ],
)
def test_argument_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_study(**kwargs)
