"""New genes and new species for a trained model (``UGE.load_query_data``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import uge

SMALL = {"d_model": 32, "n_heads": 2, "max_tokens": 64}


@pytest.fixture(scope="module")
def hidden_genes():
    """A reference trained without a fifth of the rat genes, the full study and its truth."""
    full = uge.datasets.simulate_study(
        n_samples_per_species=80,
        organs=("brain", "liver", "kidney"),
        drugs=("tetracycline",),
        n_genes=150,
        seed=0,
    )
    truth = full.uns.pop("uge_truth")
    orthologs = full.uns.pop("orthologs")
    rat = full.var_names[full.var["species"] == "rat"]
    hidden = np.random.default_rng(0).choice(rat, size=len(rat) // 5, replace=False)
    names = {g.split(":", 1)[1] for g in hidden}
    prior = orthologs[~orthologs["rat"].isin(names)]
    ref_data = full[:, ~full.var_names.isin(hidden)].copy()
    uge.UGE.setup_anndata(ref_data, labels_key="organ", condition_key="drug")
    reference = uge.UGE(ref_data, orthologs=prior, **SMALL)
    reference.train(max_epochs=60, enable_progress_bar=False)
    return reference, full, truth, list(hidden)


@pytest.mark.slow
def test_query_genes_are_learned_and_the_reference_is_untouched(hidden_genes):
    reference, full, truth, hidden = hidden_genes
    z_ref = reference.get_latent_representation()
    before = {k: v.clone() for k, v in reference.module.state_dict().items()}
    rat = full[full.obs["species"] == "rat"].copy()
    counts = rat.X.copy()
    query = uge.UGE.prepare_query_anndata(rat, reference)
    # the user's data are not changed, and each gene keeps its values in the new layout
    # (sorting the moved columns once permuted the values of the user's matrix in place)
    np.testing.assert_array_equal(rat.X.toarray(), counts.toarray())
    np.testing.assert_array_equal(query[:, rat.var_names].X.toarray(), counts.toarray())
    n_ref = reference.adata.n_vars
    assert query.var_names[:n_ref].equals(reference.adata.var_names)
    assert set(query.var_names[n_ref:]) == set(hidden)
    model = uge.UGE.load_query_data(query, reference)
    assert model.query_["new_genes"] == len(hidden)
    emb_before = model.module.embedding.gene.weight.detach().clone()
    model.train(max_epochs=60, enable_progress_bar=False)
    # the reference model itself is not changed
    for k, v in reference.module.state_dict().items():
        assert torch.equal(v, before[k]), k
    # trained weights stay as they were in the query model; new genes' embeddings moved
    emb = model.module.embedding.gene.weight.detach()
    assert torch.equal(emb[:n_ref], emb_before[:n_ref])
    assert not torch.equal(emb[n_ref:], emb_before[n_ref:])
    # so the reference's samples keep their latents exactly
    padded = uge.UGE.prepare_query_anndata(reference.adata, model)
    np.testing.assert_allclose(model.get_latent_representation(padded), z_ref, atol=1e-5)
    # hidden rat genes find their mouse partners from their data alone
    fmap = truth["functional_map"]
    pairs = fmap[fmap["target_gene"].isin(hidden)].rename(
        columns={"source_gene": "target_gene", "target_gene": "source_gene"}
    )
    mapping = model.map_genes("rat", "mouse", genes=list(pairs["source_gene"].unique()))
    top10 = uge.tl.evaluate_gene_mapping(mapping, pairs).loc["overall", "top10"]
    n_mouse = int((full.var["species"] == "mouse").sum())
    assert top10 > 5 * 10 / n_mouse  # random: 10 / 150


def test_query_genes_get_reactome_pairs_with_their_functional_partners(monkeypatch):
    """Without orthologs, hidden rat genes are matched to mouse genes by reactome similarity
    (the reference's rule, calibrated on its prior), mostly to their true partners; a
    reference aligned by orthologs only adds no such pairs. A second query of the same
    reference reuses the reference's reactome and gets the same pairs."""
    full = uge.datasets.simulate_study(n_samples_per_species=200, n_genes=300, seed=0)
    truth = full.uns.pop("uge_truth")
    orthologs = full.uns.pop("orthologs")
    rat = full.var_names[full.var["species"] == "rat"]
    hidden = set(np.random.default_rng(0).choice(rat, size=len(rat) // 5, replace=False))
    prior = orthologs[~("rat:" + orthologs["rat"]).isin(hidden)]
    ref_data = full[:, ~full.var_names.isin(hidden)].copy()
    uge.UGE.setup_anndata(ref_data, labels_key="organ", condition_key="drug")
    query = full[full.obs["species"] == "rat"].copy()
    found = {}
    for mode in ("both", "orthologs"):
        reference = uge.UGE(ref_data, orthologs=prior, gene_alignment=mode, **SMALL)
        reference.train(max_epochs=1, enable_progress_bar=False)
        laid_out = uge.UGE.prepare_query_anndata(query, reference)
        model = uge.UGE.load_query_data(laid_out, reference)
        n_ref = reference.adata.n_vars
        pairs = model.module.gene_pairs.numpy()
        new = pairs[(pairs >= n_ref).any(1)]
        assert len(new) == model.query_["new_reactome_pairs"]
        names = laid_out.var_names.to_numpy()
        found[mode] = [(names[min(a, b)], names[max(a, b)]) for a, b in new]  # mouse first
        if mode == "both":
            calls = []
            measure = uge.model._build.measured_reactome
            monkeypatch.setattr(
                uge.model._build,
                "measured_reactome",
                lambda adata, args, calls=calls, measure=measure: (
                    calls.append(adata.n_obs) or measure(adata, args)
                ),
            )
            again = uge.UGE.load_query_data(laid_out, reference)
            assert calls == [laid_out.n_obs]  # the query's reactome only
            np.testing.assert_array_equal(again.module.gene_pairs.numpy(), pairs)
            monkeypatch.undo()
    assert not found["orthologs"]
    assert len(found["both"]) > 10
    assert all(a.startswith("mouse:") and b in hidden for a, b in found["both"])
    fmap = truth["functional_map"]
    true = set(zip(fmap["source_gene"], fmap["target_gene"], strict=True))
    assert np.mean([p in true for p in found["both"]]) > 0.6  # random: about 1 / 300


@pytest.mark.slow
def test_query_model_saves_loads_and_stays_frozen(hidden_genes, tmp_path):
    reference, full, _, _ = hidden_genes
    query = uge.UGE.prepare_query_anndata(full[full.obs["species"] == "rat"].copy(), reference)
    model = uge.UGE.load_query_data(query, reference)
    model.train(max_epochs=2, enable_progress_bar=False)
    model.save(str(tmp_path / "q"), save_anndata=True)
    loaded = uge.UGE.load(str(tmp_path / "q"))
    np.testing.assert_array_equal(
        loaded.get_latent_representation(), model.get_latent_representation()
    )
    assert loaded.query_["new_genes"] == model.query_["new_genes"]
    n_ref = reference.adata.n_vars
    weight = loaded.module.embedding.gene.weight.detach().clone()
    encoder = [p.detach().clone() for p in loaded.module.encoder.parameters()]
    loaded.train(max_epochs=2, enable_progress_bar=False)
    assert torch.equal(loaded.module.embedding.gene.weight.detach()[:n_ref], weight[:n_ref])
    for p, q in zip(loaded.module.encoder.parameters(), encoder, strict=True):
        assert torch.equal(p.detach(), q)


@pytest.mark.slow
def test_new_species_is_annotated_from_the_reference_labels():
    study = uge.datasets.simulate_study(
        n_samples_per_species=80,
        species=("mouse", "rat", "human"),
        organs=("brain", "liver", "kidney"),
        drugs=("tetracycline",),
        n_genes=150,
        seed=1,
    )
    orthologs = study.uns.pop("orthologs")
    del study.uns["uge_truth"]
    is_human = (study.obs["species"] == "human").to_numpy()
    ref_data = study[~is_human, study.var["species"] != "human"].copy()
    ref_data.obs["label"] = ref_data.obs["organ"].astype(str)
    ref_data.obs.loc[ref_data.obs["species"] == "rat", "label"] = "unknown"
    uge.UGE.setup_anndata(
        ref_data, labels_key="label", condition_key="drug", unlabeled_category="unknown"
    )
    reference = uge.UGE(ref_data, orthologs=orthologs[["mouse", "rat"]].query("rat != ''"), **SMALL)
    reference.train(max_epochs=60, enable_progress_bar=False)
    human = study[is_human, study.var["species"] == "human"].copy()
    human.obs["label"] = "unknown"
    query = uge.UGE.prepare_query_anndata(human, reference)
    model = uge.UGE.load_query_data(query, reference, orthologs=orthologs)
    assert model.species_ == ["mouse", "rat", "human"]
    assert model.query_["new_ortholog_pairs"] > 0
    # human's latent map starts at the reference species' mean
    torch.testing.assert_close(
        model.module.proj_weight[2].detach(), reference.module.proj_weight[:2].detach().mean(0)
    )
    # the reference's classifier comes over whole, batch-norm statistics included
    z = torch.randn(16, reference.module.proj_bias.shape[1])
    with torch.no_grad():
        assert torch.equal(model.module.classifier.eval()(z), reference.module.classifier.eval()(z))
    model.train(max_epochs=60, enable_progress_bar=False)
    pred = model.predict_labels("mouse", "human")
    accuracy = (pred["prediction"] == human.obs.loc[pred.index, "organ"].astype(str)).mean()
    assert accuracy >= 0.9
    # map_genes works for the new species
    mapping = model.map_genes("human", "mouse", top_k=1)
    assert set(mapping["source_gene"]) == set(query.var_names[query.var["species"] == "human"])


@pytest.mark.slow
def test_query_errors(hidden_genes):
    reference, full, _, _ = hidden_genes
    rat = full[full.obs["species"] == "rat"].copy()
    with pytest.raises(ValueError, match="prepare_query_anndata"):
        uge.UGE.load_query_data(rat, reference)
    wrong = rat.copy()
    wrong.var["species"] = wrong.var["species"].astype(str)
    gene = reference.adata.var_names[reference.adata.var["species"] == "rat"][0]
    wrong.var.loc[gene, "species"] = "mouse"
    with pytest.raises(ValueError, match="another species than in the reference"):
        uge.UGE.prepare_query_anndata(wrong, reference)
    odd = rat.copy()
    odd.obs["organ"] = odd.obs["organ"].astype(str).replace("brain", "heart")
    with pytest.raises(ValueError, match=r"Labels \['heart'\] are not the reference's"):
        uge.UGE.load_query_data(uge.UGE.prepare_query_anndata(odd, reference), reference)
    untrained = uge.UGE(reference.adata, **SMALL)
    with pytest.raises(ValueError, match="not trained"):
        uge.UGE.prepare_query_anndata(rat, untrained)
    with pytest.raises(TypeError, match="trained UGE"):
        uge.UGE.load_query_data(rat, pd.DataFrame())
    mouse = full[full.obs["species"] == "mouse"].copy()  # the hidden rat genes, no rat samples
    no_samples = uge.UGE.prepare_query_anndata(mouse, reference)
    with pytest.raises(ValueError, match="new rat genes have no samples"):
        uge.UGE.load_query_data(no_samples, reference)
