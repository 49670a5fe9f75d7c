"""In-silico perturbation against the simulator's organ programs."""

from __future__ import annotations

import numpy as np
import pytest

import uge


def _brain_markers(adata, n: int = 8) -> list[str]:
    """Mouse genes most above their liver level in brain (the simulator's truth)."""
    means = adata.uns["uge_truth"]["group_means"]
    mouse = adata.var_names[adata.var["species"] == "mouse"]
    diff = means.loc["mouse|brain|control", mouse] - means.loc["mouse|liver|control", mouse]
    return list(diff.sort_values(ascending=False).index[:n])


def _distance_change(out, centre) -> float:
    d0 = np.linalg.norm(out.obsm["X_uge"] - centre, axis=1)
    d1 = np.linalg.norm(out.obsm["X_uge_perturbed"] - centre, axis=1)
    return float(np.mean(d1 - d0))


def test_knocking_out_an_organ_program_moves_samples_away_from_the_organ(trained):
    model, adata = trained
    obs = adata.obs
    brain = np.flatnonzero(((obs["species"] == "mouse") & (obs["organ"] == "brain")).to_numpy())
    centre = model.get_latent_representation(indices=brain).mean(0)
    markers = _brain_markers(adata)
    out = model.in_silico_perturb(markers, "knockout", indices=brain)
    assert out.shape == (len(brain), int((adata.var["species"] == "mouse").sum()))
    assert out.obs_names.equals(adata.obs_names[brain])
    assert (out.obs["cosine_shift"] >= 0).all() and (out.obs["latent_distance"] > 0).all()
    assert out.uns["uge"]["params"] == {"genes": markers, "mode": "knockout", "species": "mouse"}
    # decoded expression of the knocked-out genes falls
    assert out[:, markers].X.mean() < 0
    away = _distance_change(out, centre)
    rng = np.random.default_rng(0)
    mouse = adata.var_names[adata.var["species"] == "mouse"].difference(markers)
    random = [
        _distance_change(
            model.in_silico_perturb(
                list(rng.choice(mouse, len(markers), replace=False)), indices=brain
            ),
            centre,
        )
        for _ in range(5)
    ]
    assert away > 0 and away > max(random)
    # the same genes overexpressed in liver samples move them towards brain
    liver = np.flatnonzero(((obs["species"] == "mouse") & (obs["organ"] == "liver")).to_numpy())
    up = model.in_silico_perturb(markers, "overexpress", indices=liver)
    assert _distance_change(up, centre) < 0


def test_rank_genes_by_shift_finds_the_organ_program(trained):
    model, adata = trained
    markers = _brain_markers(adata, 4)
    mouse = adata.var_names[adata.var["species"] == "mouse"].difference(_brain_markers(adata, 30))
    others = list(np.random.default_rng(1).choice(mouse, 4, replace=False))
    # overexpressing brain genes in mouse liver samples moves them towards brain
    obs = adata.obs
    liver = np.flatnonzero(((obs["species"] == "mouse") & (obs["organ"] == "liver")).to_numpy())
    table = uge.tl.rank_genes_by_shift(
        model,
        markers + others,
        "organ",
        "brain",
        "overexpress",
        indices=liver,
        n_random=10,
        n_bins=2,
    )
    assert list(table.columns) == ["gene", "movement", "p_value", "fdr", "rank"]
    assert table["gene"].iloc[0] in markers
    assert len(set(table["gene"].iloc[:4]) & set(markers)) >= 3
    assert table["p_value"].between(0, 1).all() and (table["fdr"] >= table["p_value"]).all()
    by_gene = table.set_index("gene")
    assert by_gene.loc[markers, "p_value"].median() <= 2 / 11
    assert by_gene.loc[markers, "movement"].median() > by_gene.loc[others, "movement"].median()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"genes": ["nope"]}, KeyError, "one species"),
        ({"genes": []}, ValueError, "empty"),
        ({"genes": ["mouse:Mg0001"], "mode": "silence"}, ValueError, "knockout"),
        ({"genes": ["mouse:Mg0001"], "indices": [10_000]}, ValueError, "mouse samples"),
    ],
)
def test_in_silico_errors(trained, kwargs, error, match):
    model, _ = trained
    with pytest.raises(error, match=match):
        model.in_silico_perturb(**kwargs)


def test_rank_genes_errors(trained):
    model, _ = trained
    with pytest.raises(KeyError, match="target_key"):
        uge.tl.rank_genes_by_shift(model, ["mouse:Mg0001"], "tissue", "brain")
    with pytest.raises(ValueError, match="No training sample"):
        uge.tl.rank_genes_by_shift(model, ["mouse:Mg0001"], "organ", "heart")
