from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scvi
from scipy import sparse

import uge


def _species_adata(prefix: str, n_obs: int = 6, n_vars: int = 5, seed: int = 0) -> ad.AnnData:
    rng = np.random.default_rng(seed)
    x = rng.poisson(5, (n_obs, n_vars)).astype(np.float32) + 1
    return ad.AnnData(
        sparse.csr_matrix(x),
        obs=pd.DataFrame(
            {"organ": ["brain", "liver"] * (n_obs // 2)}, index=[f"s{i}" for i in range(n_obs)]
        ),
        var=pd.DataFrame(index=[f"{prefix}{j}" for j in range(n_vars)]),
    )


# ----------------------------------------------------------------- concat_species
def test_concat_species_layout():
    mouse, rat = _species_adata("Mg", 6, 5), _species_adata("Rg", 4, 3, seed=1)
    mouse.layers["counts"] = mouse.X.copy()
    rat.layers["counts"] = rat.X.copy()
    before = mouse.copy()
    adata = uge.pp.concat_species({"mouse": mouse, "rat": rat})
    assert adata.shape == (10, 8)
    assert list(adata.var_names[:2]) == ["mouse:Mg0", "mouse:Mg1"]
    assert list(adata.var["gene"][-3:]) == ["Rg0", "Rg1", "Rg2"]
    assert list(adata.var["species"].cat.categories) == ["mouse", "rat"]
    assert (adata.obs["species"] == "rat").sum() == 4
    assert adata.obs_names.is_unique  # shared names were prefixed
    assert adata.obs_names[0] == "mouse:s0"
    x = adata.X.toarray()
    own = adata.obs["species"].to_numpy()[:, None] == adata.var["species"].to_numpy()[None]
    assert (x[~own] == 0).all()
    np.testing.assert_array_equal(x[:6, :5], mouse.X.toarray())
    assert sparse.issparse(adata.layers["counts"])
    assert "organ" in adata.obs
    # inputs untouched
    assert mouse.var_names.equals(before.var_names) and "species" not in mouse.obs


def test_concat_species_keeps_unique_sample_names():
    mouse, rat = _species_adata("Mg"), _species_adata("Rg")
    rat.obs_names = [f"r{i}" for i in range(rat.n_obs)]
    adata = uge.pp.concat_species({"mouse": mouse, "rat": rat})
    assert adata.obs_names[0] == "s0"


# ----------------------------------------------------------------- ortholog_matrix
def test_ortholog_matrix_takes_each_sample_from_its_own_gene():
    mouse, rat = _species_adata("Mg", 6, 5), _species_adata("Rg", 4, 3, seed=1)
    # rat rows first: the output keeps adata's sample order
    adata = uge.pp.concat_species({"rat": rat, "mouse": mouse})
    table = pd.DataFrame(
        {
            "mouse": ["Mg0", "Mg1", "Mg2", "Mg2", "Mg4", "Mg3"],
            "rat": ["Rg2", "Rg0", "Rg1", "Rg9", None, "Rg0"],
        }
    )
    o = uge.pp.ortholog_matrix(adata, table)
    # Mg2 (two rows) and Rg0 (two rows) are not one-to-one; Mg4 has no rat gene
    assert list(o.var_names) == ["Rg2"]  # named by the first species (rat: first samples)
    assert list(o.var["mouse"]) == ["Mg0"] and list(o.var["rat"]) == ["Rg2"]
    assert o.obs_names.equals(adata.obs_names)
    x = o.X.toarray()[:, 0]
    np.testing.assert_array_equal(x[:4], rat.X.toarray()[:, 2])
    np.testing.assert_array_equal(x[4:], mouse.X.toarray()[:, 0])
    assert adata.shape == (10, 8)  # input untouched
    with pytest.raises(ValueError, match="No one-to-one ortholog group"):
        uge.pp.ortholog_matrix(adata, pd.DataFrame({"mouse": ["Mg0"], "rat": ["nope"]}))
    with pytest.raises(ValueError, match="at least two species"):
        uge.pp.ortholog_matrix(adata, table, species=["mouse", "dog"])
    with pytest.raises(ValueError, match="uns\\['orthologs'\\]"):
        uge.pp.ortholog_matrix(adata)


@pytest.mark.parametrize(
    ("adatas", "error", "match"),
    [
        ({}, ValueError, "non-empty mapping"),
        ({"mouse": np.zeros((2, 2))}, TypeError, "expected an AnnData"),
        ({"mouse": _species_adata("Mg")[:0]}, ValueError, "at least one sample"),
    ],
)
def test_concat_species_errors(adatas, error, match):
    with pytest.raises(error, match=match):
        uge.pp.concat_species(adatas)


def test_concat_species_duplicated_genes():
    mouse = _species_adata("Mg")
    mouse.var_names = ["a", "a", "b", "c", "d"]
    with pytest.raises(ValueError, match="duplicated gene names"):
        uge.pp.concat_species({"mouse": mouse, "rat": _species_adata("Rg")})


def test_setup_mudata_builds_registered_anndata():
    mdata = md.MuData({"mouse": _species_adata("Mg"), "rat": _species_adata("Rg")})
    adata = uge.UGE.setup_mudata(mdata, labels_key="organ")
    assert isinstance(adata, ad.AnnData)
    assert adata.n_vars == 10 and set(adata.obs["species"]) == {"mouse", "rat"}
    model = uge.UGE(adata, d_model=8, n_heads=2)
    assert model.species_ == ["mouse", "rat"]
    with pytest.raises(TypeError, match="one modality per species"):
        uge.UGE.setup_mudata(adata)


# ------------------------------------------------------------------- bad inputs
def _fresh(study):
    a = study.copy()
    del a.uns["uge_truth"]
    return a


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"species_key": "taxon"}, KeyError, r"adata.obs\['taxon'\] not found"),
        ({"labels_key": "tissue"}, KeyError, r"adata.obs\['tissue'\] not found .*labels_key"),
        ({"condition_key": "treatment"}, KeyError, r"adata.obs\['treatment'\].*condition_key"),
        ({"batch_key": "lane"}, KeyError, r"adata.obs\['lane'\].*batch_key"),
        ({"layer": "counts"}, KeyError, r"adata.layers\['counts'\] not found"),
        (
            {"condition_key": "drug", "control_condition": "vehicle"},
            ValueError,
            "control_condition='vehicle' not found",
        ),
    ],
)
def test_setup_key_errors(study, kwargs, error, match):
    adata = _fresh(study)
    with pytest.raises(error, match=match):
        uge.UGE.setup_anndata(adata, **kwargs)


def test_missing_var_species(study):
    adata = _fresh(study)
    del adata.var["species"]
    with pytest.raises(KeyError, match=r"adata.var\['species'\] not found"):
        uge.UGE.setup_anndata(adata)


def test_species_without_samples_or_genes(study):
    adata = _fresh(study)
    no_samples = adata[adata.obs["species"] == "mouse"].copy()
    with pytest.raises(ValueError, match=r"\['rat'\] have genes .* but no samples"):
        uge.UGE.setup_anndata(no_samples)
    no_genes = adata[:, adata.var["species"] == "mouse"].copy()
    with pytest.raises(ValueError, match=r"\['rat'\] have samples .* but no genes"):
        uge.UGE.setup_anndata(no_genes)


@pytest.mark.parametrize(
    ("value", "match"),
    [(-1.0, "negative values"), (np.nan, "NaN or infinite"), (np.inf, "NaN or infinite")],
)
def test_bad_values(study, value, match):
    adata = _fresh(study)
    x = adata.X.toarray()
    x[3, 2] = value
    adata.X = x
    with pytest.raises(ValueError, match=match):
        uge.UGE.setup_anndata(adata)


def test_zero_total_samples(study):
    adata = _fresh(study)
    x = adata.X.toarray()
    x[5] = 0
    adata.X = sparse.csr_matrix(x)
    with pytest.raises(ValueError, match=r"1 mouse samples have zero total expression"):
        uge.UGE.setup_anndata(adata)


def test_duplicated_var_names(study):
    adata = _fresh(study)
    adata.var_names = [*adata.var_names[:-1], adata.var_names[0]]
    with pytest.raises(ValueError, match="duplicated names"):
        uge.UGE.setup_anndata(adata)


def test_counts_declared_but_not_integer(study):
    adata = _fresh(study)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    uge.UGE.setup_anndata(adata)
    with pytest.raises(ValueError, match="likelihood='nb' declares raw counts"):
        uge.UGE(adata, likelihood="nb")


def test_likelihood_detected_and_stated(study, caplog):
    counts = _fresh(study)
    uge.UGE.setup_anndata(counts)
    assert uge.UGE(counts, d_model=8, n_heads=2).module.likelihood == "nb"
    assert "integer counts: using a negative binomial" in caplog.text
    lognorm = _fresh(study)
    sc.pp.normalize_total(lognorm, target_sum=1e4)
    sc.pp.log1p(lognorm)
    uge.UGE.setup_anndata(lognorm)
    model = uge.UGE(lognorm, d_model=8, n_heads=2)
    assert model.module.likelihood == "gaussian"
    assert "Gaussian likelihood" in caplog.text
    # normalised but not logged: accepted with a warning that says what to do
    unlogged = _fresh(study)
    sc.pp.normalize_total(unlogged, target_sum=1e4)
    uge.UGE.setup_anndata(unlogged)
    with pytest.warns(UserWarning, match="does not look log-transformed"):
        uge.UGE(unlogged, d_model=8, n_heads=2)


def test_gaussian_model_trains(study):
    adata = _fresh(study)
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    uge.UGE.setup_anndata(adata, labels_key="organ")
    model = uge.UGE(adata, d_model=16, n_heads=2, max_tokens=32)
    model.train(max_epochs=2, enable_progress_bar=False)
    rec = model.get_reconstructed_expression()
    assert np.isfinite(rec.to_numpy()).all()


def test_orthologs_absent_genes_are_dropped_and_counted(study, caplog):
    adata = _fresh(study)
    orth = adata.uns["orthologs"]
    extra = pd.DataFrame({"mouse": ["NotAGene1", "NotAGene2"], "rat": ["Nope1", orth["rat"][0]]})
    table = pd.concat([orth, extra], ignore_index=True)
    table["homology_type"] = "ortholog_one2one"  # extra columns are ignored
    uge.UGE.setup_anndata(adata)
    model = uge.UGE(adata, orthologs=table, d_model=8, n_heads=2)
    assert len(model.module.gene_pairs) == len(orth.drop_duplicates())
    assert f"2 of {len(table)} table rows dropped" in caplog.text


def test_orthologs_need_species_columns(study):
    adata = _fresh(study)
    uge.UGE.setup_anndata(adata)
    with pytest.raises(ValueError, match="one column per species"):
        uge.UGE(adata, orthologs=pd.DataFrame({"human": ["A"], "rat": ["B"]}))
    mouse = adata[adata.obs["species"] == "mouse", adata.var["species"] == "mouse"].copy()
    uge.UGE.setup_anndata(mouse)
    with pytest.raises(ValueError, match=r"one species \('mouse'\).*orthologs=None"):
        uge.UGE(mouse, orthologs=adata.uns["orthologs"])


def test_works_without_orthologs(study):
    adata = _fresh(study)
    uge.UGE.setup_anndata(adata)
    model = uge.UGE(adata, d_model=8, n_heads=2)
    assert len(model.module.gene_pairs) == 0
    model.train(max_epochs=1, enable_progress_bar=False)


def test_unseen_species_and_genes_at_inference(trained):
    model, adata = trained
    human = adata.copy()
    human.obs["species"] = human.obs["species"].cat.rename_categories({"rat": "human"})
    with pytest.raises(ValueError, match=r"Species \['human'\] were not seen at training time"):
        model.get_latent_representation(human)
    fewer = adata[:, adata.var_names[:-10]].copy()
    with pytest.raises(ValueError, match=r"genes of this AnnData do not match.*% of the model"):
        model.get_latent_representation(fewer)
    shuffled = adata[:, adata.var_names[::-1]].copy()
    with pytest.raises(ValueError, match=r"100\.0% of the model.*in another order"):
        model.get_latent_representation(shuffled)


def test_new_anndata_with_same_genes(trained):
    model, adata = trained
    new = adata[:20].copy()
    for key in list(new.obs.columns):
        if key.startswith("_scvi"):
            del new.obs[key]
    np.testing.assert_allclose(
        model.get_latent_representation(new),
        model.get_latent_representation(indices=range(20)),
        atol=1e-5,
    )


def test_user_anndata_changes_only_under_documented_keys(study):
    adata = _fresh(study)
    before = adata.copy()
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    model = uge.UGE(adata, orthologs=adata.uns["orthologs"], d_model=8, n_heads=2, max_tokens=16)
    model.train(max_epochs=1, enable_progress_bar=False)
    adata.obsm["X_uge"] = model.get_latent_representation()
    model.get_gene_embedding()  # returned, not written
    model.get_reconstructed_expression(key_added="uge_reconstruction")
    model.predict_labels("mouse", "rat", key_added="uge_prediction")
    model.predict_perturbation("tetracycline", "rat", key_added="uge_tetracycline")
    uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
    assert (adata.X != before.X).nnz == 0
    assert adata.var.equals(before.var)
    pd.testing.assert_frame_equal(adata.obs[before.obs.columns], before.obs)
    new_obs = set(adata.obs.columns.difference(before.obs.columns))
    assert {c for c in new_obs if not c.startswith("_scvi_")} == {
        "uge_prediction",
        "uge_prediction_confidence",
    }
    assert set(adata.obsm) == {"X_uge"}
    assert set(adata.layers) == {"uge_reconstruction", "uge_tetracycline"}
    assert set(adata.varm) == {"uge_reactome"}
    assert set(adata.uns) - set(before.uns) == {"_scvi_uuid", "_scvi_manager_uuid", "uge"}
    assert set(adata.uns["uge"]) == {
        "uge_reconstruction",
        "uge_prediction",
        "uge_tetracycline",
        "uge_reactome",
    }
    assert all("params" in v for v in adata.uns["uge"].values())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_tokens": 0}, "max_tokens must be a positive integer"),
        ({"d_model": 30, "n_heads": 4}, "divisible by n_heads"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"gene_align_weight": -1.0}, "gene_align_weight must be 0 or more"),
        ({"min_similarity": 2.0}, r"similarity in \[-1, 1\]"),
    ],
)
def test_bad_model_parameters(adata, kwargs, match):
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    with pytest.raises(ValueError, match=match):
        uge.UGE(adata, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"max_epochs": -1}, "max_epochs must be"), ({"batch_size": 0}, "batch_size must be")],
)
def test_bad_training_parameters(adata, kwargs, match):
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    model = uge.UGE(adata, d_model=16, n_heads=2, max_tokens=16)
    with pytest.raises(ValueError, match=match):
        model.train(**kwargs)
    assert not model.is_trained_


def test_view_is_accepted(adata):
    view = adata[adata.obs["organ"] == "brain"]
    uge.UGE.setup_anndata(view, labels_key="organ", condition_key="drug")
    assert not view.is_view and view.n_obs == (adata.obs["organ"] == "brain").sum()
    model = uge.UGE(view, orthologs=view.uns["orthologs"], d_model=16, n_heads=2, max_tokens=16)
    model.train(max_epochs=1, enable_progress_bar=False)
    assert model.get_latent_representation().shape == (view.n_obs, 32)


def test_reactome_alignment_falls_back_to_orthologs_on_tiny_data(adata, caplog):
    # two samples per species: no group has 3 samples, no reactome can be measured
    rows = np.concatenate([np.flatnonzero(adata.obs["species"] == s)[:2] for s in ("mouse", "rat")])
    tiny = adata[rows].copy()
    uge.UGE.setup_anndata(tiny, labels_key="organ", condition_key="drug")
    model = uge.UGE(tiny, orthologs=tiny.uns["orthologs"], d_model=16, n_heads=2)
    assert model.gene_alignment_["mode"] == "orthologs"
    assert "gene alignment from orthologs only" in caplog.text
    with pytest.raises(ValueError, match="no reactome column"):
        uge.UGE(tiny, gene_alignment="reactome")


def test_same_seed_gives_identical_latents(adata):
    latents = []
    for _ in range(2):
        scvi.settings.seed = 3
        a = adata.copy()
        uge.UGE.setup_anndata(a, labels_key="organ", condition_key="drug")
        model = uge.UGE(a, orthologs=a.uns["orthologs"], d_model=32, n_heads=2, max_tokens=64)
        model.train(max_epochs=3, enable_progress_bar=False)
        latents.append(model.get_latent_representation())
    np.testing.assert_array_equal(latents[0], latents[1])
