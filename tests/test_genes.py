"""Gene alignment targets and the model's learned gene space (map_genes), against truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import uge
from uge.core import (
    alignment_pairs,
    greedy_matching,
    ortholog_pairs,
    response_similarity,
    similar_pairs,
)

ARGS = {
    "species_key": "species",
    "labels_key": "organ",
    "condition_key": "drug",
    "control_condition": "control",
    "layer": None,
}


@pytest.fixture(scope="module")
def rewired():
    """Default-sized genes and drugs, fewer samples: rewired genes that respond."""
    return uge.datasets.simulate_study(n_samples_per_species=200, n_genes=400, seed=2)


def _named(adata, pairs) -> set[tuple[str, str]]:
    names = adata.var_names
    sp = adata.var["species"].to_numpy()
    return {(names[a], names[b]) if sp[a] == "mouse" else (names[b], names[a]) for a, b in pairs}


def test_alignment_overrides_wrong_orthologs(rewired):
    truth = rewired.uns["uge_truth"]["functional_map"]
    true = set(zip(truth["source_gene"], truth["target_gene"], strict=True))
    rew = truth[truth["kind"] == "rewired"]
    rewired_pairs = set(zip(rew["source_gene"], rew["target_gene"], strict=True))
    prior = ortholog_pairs(rewired.uns["orthologs"], rewired.var, "species", ["mouse", "rat"])
    kept, info = alignment_pairs(rewired, ARGS, ["mouse", "rat"], prior, "orthologs", 0.6)
    assert info == {"mode": "orthologs", "prior": len(prior), "overridden": 0, "added": 0}
    np.testing.assert_array_equal(kept, prior)
    assert not rewired_pairs & _named(rewired, prior)

    both, info = alignment_pairs(rewired, ARGS, ["mouse", "rat"], prior, "both", 0.6)
    named = _named(rewired, both)
    assert info["overridden"] > 0 and info["added"] > 0
    # the data find functional partners the table gets wrong ...
    assert len(rewired_pairs & named) >= 0.4 * len(rewired_pairs)
    # ... and the pairs are right more often than the table's
    precision_prior = np.mean([p in true for p in _named(rewired, prior)])
    assert np.mean([p in true for p in named]) > precision_prior

    alone, info = alignment_pairs(rewired, ARGS, ["mouse", "rat"], prior, "reactome", 0.6)
    assert info["prior"] == len(prior) and len(alone) > 0
    assert np.mean([p in true for p in _named(rewired, alone)]) > 0.6


def test_alignment_errors(study):
    prior = ortholog_pairs(study.uns["orthologs"], study.var, "species", ["mouse", "rat"])
    no_keys = {**ARGS, "labels_key": None, "condition_key": None}
    with pytest.raises(ValueError, match="needs a reactome"):
        alignment_pairs(study, no_keys, ["mouse", "rat"], prior, "reactome", 0.6)
    pairs, info = alignment_pairs(study, no_keys, ["mouse", "rat"], prior, "both", 0.6)
    assert info["mode"] == "orthologs" and len(pairs) == len(prior)
    with pytest.raises(ValueError, match="gene_alignment must be"):
        alignment_pairs(study, ARGS, ["mouse", "rat"], prior, "orthology", 0.6)


def test_greedy_matching_keeps_one_to_many_prior():
    score = np.array([[0.9, 0.8, 0.95], [0.1, 0.2, 0.3]])
    prior = np.array([[True, True, False], [False, False, False]])
    candidates = np.array([[False, False, True], [True, True, True]])
    i, j = np.nonzero(prior | candidates)
    # row 0's best is a non-prior column 2 (0.95): it overrides both prior pairs
    mi, mj = greedy_matching(i, j, score[i, j], prior[i, j], 0.5)
    assert list(zip(mi, mj, strict=True)) == [(0, 2)]
    # below the threshold it does not: row 0 keeps both prior partners
    lower = score * np.array([[1, 1, 0.5], [1, 1, 1]])
    mi, mj = greedy_matching(i, j, lower[i, j], prior[i, j], 0.5)
    assert sorted(zip(mi, mj, strict=True)) == [(0, 0), (0, 1)]


def test_similar_pairs_equal_the_dense_matrix_above_the_threshold():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 6)), rng.normal(size=(200, 6))
    b[:50] = a[:50] + rng.normal(scale=0.1, size=(50, 6))  # 50 similar pairs
    rows, cols = np.arange(0, 300, 2), np.arange(200)
    dense = response_similarity(a[rows], b)
    i, j, s = similar_pairs(a, b, rows, cols, 0.6)
    want = np.argwhere(dense >= 0.6)
    assert sorted(zip(i, j, strict=True)) == sorted(zip(rows[want[:, 0]], want[:, 1], strict=True))
    np.testing.assert_allclose(s, response_similarity(a[i], b[j], paired=True))
    # at most max_per_gene per row, the best ones
    i2, _, s2 = similar_pairs(a, b, rows, cols, -1.0, max_per_gene=3)
    assert np.bincount(i2).max() == 3
    best = np.sort(dense, 1)[:, -3:]
    np.testing.assert_allclose(np.sort(s2.reshape(-1, 3), 1), best)


def test_map_genes(trained):
    model, adata = trained
    truth = adata.uns["uge_truth"]["functional_map"]
    mapping = model.map_genes("mouse", "rat", top_k=3)
    assert list(mapping.columns) == ["source_gene", "target_gene", "score", "rank", "in_prior"]
    n_mouse = int((adata.var["species"] == "mouse").sum())
    assert len(mapping) == 3 * n_mouse
    assert mapping["score"].between(-1 - 1e-6, 1 + 1e-6).all()
    assert mapping.groupby("source_gene")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    top = mapping[mapping["rank"] == 1]
    orth = adata.uns["orthologs"]
    prior = set(zip("mouse:" + orth["mouse"], "rat:" + orth["rat"], strict=True))
    pairs = zip(top["source_gene"], top["target_gene"], strict=True)
    np.testing.assert_array_equal(top["in_prior"], [p in prior for p in pairs])
    scores = uge.tl.evaluate_gene_mapping(mapping, truth)
    # a tiny study (2 organs, 1 drug): many genes share a decoded profile, ties included
    assert scores.loc["one_to_one", "top1"] >= 0.7
    # species-specific genes (no partner) get lower best scores than genes with one
    kind = adata.uns["uge_truth"]["genes"]["kind"]
    best = top.set_index("source_gene")["score"]
    assert best[kind[best.index] == "unique"].median() < best[kind[best.index] != "unique"].median()


def test_map_genes_subset_and_errors(trained):
    model, adata = trained
    gene = adata.var.loc[adata.var["species"] == "mouse", "gene"].iloc[0]
    by_name = model.map_genes("mouse", "rat", genes=[gene], top_k=2)
    by_var = model.map_genes("mouse", "rat", genes=f"mouse:{gene}", top_k=2)
    pd.testing.assert_frame_equal(by_name, by_var)
    assert set(by_name["source_gene"]) == {f"mouse:{gene}"}
    with pytest.raises(ValueError, match="not one of the model's species"):
        model.map_genes("mouse", "dog")
    with pytest.raises(ValueError, match="must differ"):
        model.map_genes("rat", "rat")
    with pytest.raises(KeyError, match="not mouse genes"):
        model.map_genes("mouse", "rat", genes=["Rg0001"])
    with pytest.raises(ValueError, match="space must be"):
        model.map_genes("mouse", "rat", space="genes")


@pytest.mark.slow
def test_held_out_orthologs_are_learned_from_data(study):
    """Genes left out of the prior find their partners through the model, not by chance."""
    adata = study.copy()
    del adata.uns["uge_truth"]
    orth = adata.uns["orthologs"]
    rng = np.random.default_rng(0)
    held = rng.random(len(orth)) < 0.3
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    model = uge.UGE(
        adata,
        orthologs=orth[~held],
        d_model=32,
        n_heads=2,
        max_tokens=64,
        gene_alignment="orthologs",
    )
    reference = pd.DataFrame(
        {"source_gene": "mouse:" + orth["mouse"][held], "target_gene": "rat:" + orth["rat"][held]}
    )
    before = uge.tl.evaluate_gene_mapping(
        model.map_genes("mouse", "rat", space="expression"), reference, kind_key=None
    )
    model.train(max_epochs=40, batch_size=64, enable_progress_bar=False)
    after = uge.tl.evaluate_gene_mapping(
        model.map_genes("mouse", "rat", space="expression"), reference, kind_key=None
    )
    n_rat = int((adata.var["species"] == "rat").sum())
    assert after.loc["overall", "top10"] > max(2 * 10 / n_rat, before.loc["overall", "top10"] + 0.1)


def test_gene_profiles_reactome_space(trained):
    """The model's own reactome: every gene gets every column, and it tracks the truth."""
    model, adata = trained
    profiles = model.gene_profiles("reactome")
    assert list(profiles.columns) == ["brain|tetracycline", "liver|tetracycline"]
    assert list(profiles.index) == list(adata.var_names)
    truth = adata.uns["uge_truth"]["reactome"].loc[profiles.index, profiles.columns]
    responding = truth.abs().to_numpy() > 0.5
    r = np.corrcoef(profiles.to_numpy()[responding], truth.to_numpy()[responding])[0, 1]
    assert r > 0.7
    assert len(model.map_genes("mouse", "rat", space="reactome", top_k=1)) > 0


def test_predict_reactome_for_a_species_never_measured_under_the_drug(heldout):
    """Rat x tetracycline was never trained on: its reactome comes from mouse's shift."""
    model, full, truth = heldout
    pred = model.predict_reactome("rat")
    rat = full.var_names[full.var["species"] == "rat"]
    assert list(pred.columns) == ["brain|tetracycline", "liver|tetracycline"]
    assert pred.index.equals(rat)
    assert pred.attrs["shift_from"] == {c: "measured" for c in pred.columns}
    true = truth["reactome"].loc[rat, pred.columns]
    responding = true.abs().to_numpy() > 0.5
    r = np.corrcoef(pred.to_numpy()[responding], true.to_numpy()[responding])[0, 1]
    assert r > 0.7
    # genes by their own names, one combination
    names = list(full.var.loc[rat[:3], "gene"])
    one = model.predict_reactome("rat", genes=names, labels=["liver"], conditions=["tetracycline"])
    np.testing.assert_allclose(
        one.to_numpy()[:, 0], pred.loc[rat[:3], "liver|tetracycline"], rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"species": "dog"}, ValueError, "dog"),
        ({"species": "rat", "labels": ["heart"]}, ValueError, "labels \\['heart'\\] were not"),
        ({"species": "rat", "conditions": ["x"]}, ValueError, "conditions \\['x'\\] were not"),
        ({"species": "rat", "genes": ["nope"]}, KeyError, "not rat genes"),
    ],
)
def test_predict_reactome_errors(heldout, kwargs, error, match):
    model, _, _ = heldout
    with pytest.raises(error, match=match):
        model.predict_reactome(**kwargs)


def test_gene_profiles_reactome_needs_condition(study):
    adata = study.copy()
    uge.UGE.setup_anndata(adata, labels_key="organ")
    model = uge.UGE(adata, d_model=8, n_heads=2, max_tokens=16)
    with pytest.raises(ValueError, match="needs a condition"):
        model.gene_profiles("reactome")
    with pytest.raises(ValueError, match="needs conditions"):
        model.predict_reactome("rat")


def test_matches_between_two_species_keep_orthologs_in_a_third():
    """With three species, a reactome match between rat and human genes must not drop
    either gene's ortholog pair with mouse: the mouse-human alignment stays as good as
    the ortholog table (it used to lose some of its correct pairs)."""
    study = uge.datasets.simulate_study(
        n_samples_per_species=200, n_genes=400, species=("mouse", "rat", "human"), seed=2
    )
    species = ["mouse", "rat", "human"]
    prior = ortholog_pairs(study.uns["orthologs"], study.var, "species", species)
    truth = study.uns["uge_truth"]["functional_map"]
    true = {tuple(sorted(p)) for p in zip(truth["source_gene"], truth["target_gene"], strict=True)}
    names, sp = study.var_names, study.var["species"].astype(str).to_numpy()

    def correct(pairs, a, b):
        return sum(
            {sp[i], sp[j]} == {a, b} and tuple(sorted((names[i], names[j]))) in true
            for i, j in pairs
        )

    both, _ = alignment_pairs(study, ARGS, species, prior, "both", 0.6)
    for other in ("rat", "human"):
        assert correct(both, "mouse", other) >= correct(prior, "mouse", other)
    # rat and human are joined through mouse: no direct reactome pairs between them
    assert not any({sp[i], sp[j]} == {"rat", "human"} for i, j in both)
    # a species without any ortholog pair is aligned by its reactome
    no_human = prior[(sp[prior] != "human").all(1)]
    pairs, _ = alignment_pairs(study, ARGS, species, no_human, "both", 0.6)
    assert sum("human" in {sp[i], sp[j]} for i, j in pairs) > 50
