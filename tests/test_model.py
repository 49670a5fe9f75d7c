from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scanpy as sc
import scvi
import torch
from lightning.pytorch.callbacks import Callback

import uge


def _centroid_rule(z: np.ndarray, adata: ad.AnnData) -> float:
    """Share of rat samples nearer to the mouse centroid of their own organ than to others."""
    species = adata.obs["species"].to_numpy()
    organ = adata.obs["organ"].astype(str).to_numpy()
    mouse = species == "mouse"
    organs = np.unique(organ)
    centroids = np.stack([z[mouse & (organ == o)].mean(0) for o in organs])
    rat = np.flatnonzero(species == "rat")
    d = np.linalg.norm(z[rat, None, :] - centroids[None], axis=-1)
    return float((organs[d.argmin(1)] == organ[rat]).mean())


def test_latent_aligns_labels_across_species(trained):
    model, adata = trained
    z = model.get_latent_representation()
    assert z.shape == (adata.n_obs, model.module.proj_bias.shape[1])
    assert np.isfinite(z).all()
    assert _centroid_rule(z, adata) >= 0.9
    # the species are mixed: a rat sample's same-organ mouse centroid is nearer than the
    # nearest other-organ centroid, by a clear margin on average
    species = adata.obs["species"].to_numpy()
    organ = adata.obs["organ"].astype(str).to_numpy()
    same = [
        np.linalg.norm(z[i] - z[(species == "mouse") & (organ == organ[i])].mean(0))
        for i in np.flatnonzero(species == "rat")
    ]
    other = [
        np.linalg.norm(z[i] - z[(species == "mouse") & (organ != organ[i])].mean(0))
        for i in np.flatnonzero(species == "rat")
    ]
    assert np.mean(same) < 0.7 * np.mean(other)


def test_untrained_model_does_not_align(adata):
    """The alignment test above measures training, not the data: untrained fails it."""
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    model = uge.UGE(adata, d_model=32, n_heads=2, max_tokens=64)
    z = model.get_latent_representation()
    assert _centroid_rule(z, adata) < 0.9


def test_scanpy_chain(trained):
    model, shared = trained
    adata = shared.copy()
    adata.obsm["X_uge"] = model.get_latent_representation()
    sc.pp.neighbors(adata, use_rep="X_uge", n_neighbors=10)
    sc.tl.umap(adata)
    assert adata.obsm["X_umap"].shape == (adata.n_obs, 2)
    ax = sc.pl.umap(adata, color=["species", "organ"], show=False)
    assert ax is not None


def test_history_and_losses(trained):
    model, _ = trained
    h = model.history
    for key in ("reconstruction_loss_train", "gene_alignment_train", "latent_alignment_train"):
        assert key in h
    recon = h["reconstruction_loss_train"].to_numpy().ravel()
    assert recon[-1] < recon[0]


def test_gene_embedding(trained):
    model, adata = trained  # read-only: get_gene_embedding returns, writes nothing
    emb = model.get_gene_embedding()
    assert list(emb.index) == list(adata.var_names)
    # ortholog pairs are closer than random cross-species pairs
    orth = adata.uns["orthologs"]
    e = emb.to_numpy() / np.linalg.norm(emb.to_numpy(), axis=1, keepdims=True)
    pos = pd.Series(np.arange(adata.n_vars), index=adata.var_names)
    a = pos["mouse:" + orth["mouse"]].to_numpy()
    b = pos["rat:" + orth["rat"]].to_numpy()
    paired = (e[a] * e[b]).sum(1).mean()
    rng = np.random.default_rng(0)
    random = (e[rng.permutation(a)] * e[b]).sum(1).mean()
    assert paired > 0.6
    assert random < 0.3


def test_reconstruction_layer(trained_copy):
    model, adata = trained_copy  # the layers are written into model.adata
    rec = model.get_reconstructed_expression(key_added="uge_reconstruction")
    layer = adata.layers["uge_reconstruction"]
    assert rec.shape == adata.shape
    np.testing.assert_allclose(layer, rec.to_numpy(), rtol=1e-6)
    own = adata.obs["species"].to_numpy()[:, None] == adata.var["species"].to_numpy()[None]
    assert (layer[~own] == 0).all()
    # expected counts track the observed counts
    x = adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X
    r = np.corrcoef(np.log1p(layer[own]), np.log1p(x[own]))[0, 1]
    assert r > 0.9
    # a subset fills only its rows; the rest hold NaN
    part = model.get_reconstructed_expression(indices=[0, 1], key_added="uge_part")
    assert part.shape == (2, adata.n_vars)
    assert np.isnan(adata.layers["uge_part"][2:]).all()
    assert np.isfinite(adata.layers["uge_part"][:2]).all()


def test_decode_into_other_species(trained):
    model, adata = trained
    mouse = np.flatnonzero(adata.obs["species"] == "mouse")[:10]
    rec = model.get_reconstructed_expression(indices=mouse, target_species="rat")
    rat_genes = (adata.var["species"] == "rat").to_numpy()
    assert (rec.to_numpy()[:, ~rat_genes] == 0).all()
    assert (rec.to_numpy()[:, rat_genes] > 0).all()
    with pytest.raises(ValueError, match="target_species='human'"):
        model.get_reconstructed_expression(target_species="human")


def test_save_load_identical_latents(trained, tmp_path):
    model, adata = trained
    model.save(str(tmp_path / "m"))
    with pytest.raises(ValueError, match="already exists"):
        model.save(str(tmp_path / "m"))
    model.save(str(tmp_path / "m"), overwrite=True)
    fresh = adata.copy()
    loaded = uge.UGE.load(str(tmp_path / "m"), fresh)
    np.testing.assert_array_equal(
        loaded.get_latent_representation(), model.get_latent_representation()
    )
    assert loaded.is_trained
    assert len(loaded.history["reconstruction_loss_train"]) == 60  # the fixture's epochs


def test_load_refuses_non_models(trained, tmp_path):
    model, adata = trained
    with pytest.raises(ValueError, match="not a saved UGE model"):
        uge.UGE.load(str(tmp_path), adata.copy())
    # a pickled object in place of the weights is refused, never executed
    model.save(str(tmp_path / "m"))

    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"x": Payload()}, tmp_path / "m" / "model.pt")
    with pytest.raises(ValueError, match="pickled objects are refused"):
        uge.UGE.load(str(tmp_path / "m"), adata.copy())


def test_load_reports_gene_match_rate(trained, tmp_path):
    model, adata = trained
    model.save(str(tmp_path / "m"))
    keep = adata.var_names[: adata.n_vars * 3 // 4]
    with pytest.raises(ValueError, match=r"74\.8% of the model's 314 genes are present"):
        uge.UGE.load(str(tmp_path / "m"), adata[:, keep].copy())


class _ModeProbe(Callback):
    def __init__(self):
        self.modes = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.modes.append(pl_module.module.training)


def test_train_twice_with_dropout_on(adata):
    uge.UGE.setup_anndata(adata)
    model = uge.UGE(adata, d_model=16, n_heads=2, max_tokens=32, dropout=0.2)
    model.train(max_epochs=1, enable_progress_bar=False)
    assert not model.module.training  # scvi-tools leaves the module in eval mode
    probe = _ModeProbe()
    model.train(max_epochs=2, enable_progress_bar=False, callbacks=[probe])
    assert probe.modes and all(probe.modes)
    assert len(model.history["reconstruction_loss_train"]) == 3  # history continues


def test_tokens_are_bounded(adata):
    uge.UGE.setup_anndata(adata)
    model = uge.UGE(adata, max_tokens=20, d_model=16, n_heads=2)
    module = model.module
    assert module.max_tokens == 20
    assert (module.token_candidates.sum(1) == 20).all()
    x = torch.as_tensor(adata.X[:8].toarray())
    species = torch.as_tensor(adata.obs["species"].cat.codes.to_numpy()[:8]).long()
    genes, values, keep, library = module.select_tokens(x, species)
    assert genes.shape == (8, 20) and keep.all()
    # tokens are the sample's own species' genes, its top expressed among the candidates
    assert (module.gene_species[genes] == species[:, None]).all()
    own = module.species_genes[species]
    torch.testing.assert_close(library.ravel(), (x * own).sum(1))
    xn = torch.log1p(x / library * 1e4)  # log-normalised over the species' genes
    mean, std = module.gene_mean[genes], module.gene_std[genes]
    torch.testing.assert_close(values, ((xn.gather(1, genes) - mean) / std).clamp(-5, 5))
    for i in range(8):
        cand = module.token_candidates[species[i]]
        cutoff = xn[i, genes[i]].min()
        assert (xn[i, cand & ~torch.isin(torch.arange(len(cand)), genes[i])] <= cutoff).all()


def test_relative_ranking_picks_genes_above_their_usual_level(adata):
    adata.var["highly_variable"] = False
    adata.var.iloc[:60, adata.var.columns.get_loc("highly_variable")] = True  # 60 candidates
    uge.UGE.setup_anndata(adata)
    kwargs = {"max_tokens": 10, "d_model": 16, "n_heads": 2}
    by_level = uge.UGE(adata, **kwargs).module
    relative = uge.UGE(adata, token_ranking="relative", **kwargs).module
    x = torch.as_tensor(adata.X[:8].toarray())
    species = torch.as_tensor(adata.obs["species"].cat.codes.to_numpy()[:8]).long()
    genes, values, keep, library = relative.select_tokens(x, species)
    assert keep.all()
    xn = torch.log1p(x / library * 1e4)
    z = (xn - relative.gene_mean) / relative.gene_std
    cand = relative.token_candidates[species]
    for i in range(8):  # the tokens are the sample's 10 highest relative values
        others = cand[i] & ~torch.isin(torch.arange(adata.n_vars), genes[i])
        assert (z[i, others] <= z[i, genes[i]].min() + 1e-6).all()
    torch.testing.assert_close(values, z.gather(1, genes).clamp(-5, 5))
    assert not torch.equal(
        genes.sort(1).values, by_level.select_tokens(x, species)[0].sort(1).values
    )
    with pytest.raises(ValueError, match="token_ranking must be"):
        uge.UGE(adata, token_ranking="median")


def test_highly_variable_genes_choose_tokens(adata):
    adata.var["highly_variable"] = False
    chosen = np.r_[0:10, adata.n_vars - 10 : adata.n_vars]
    adata.var.iloc[chosen, adata.var.columns.get_loc("highly_variable")] = True
    uge.UGE.setup_anndata(adata)
    model = uge.UGE(adata, d_model=16, n_heads=2)
    assert set(np.flatnonzero(model.module.token_candidates.any(0).numpy())) == set(chosen)


def test_paper_configuration_is_selectable(adata):
    uge.UGE.setup_anndata(adata)
    model = uge.UGE(adata, d_model=256, n_layers=4, n_heads=8)
    assert len(model.module.encoder.blocks) == 4
    assert model.module.encoder.blocks[0].n_heads == 8
    assert model.module.embedding.gene.weight.shape[1] == 256


def test_condition_is_an_external_token(trained):
    model, adata = trained
    module = model.module
    assert module.embedding.external.num_embeddings == adata.obs["drug"].nunique()
    x = torch.as_tensor(adata.X[:6].toarray())
    species = torch.as_tensor(adata.obs["species"].cat.codes.to_numpy()[:6]).long()
    with torch.no_grad():
        z0 = module.inference(x, species, torch.zeros(6, dtype=torch.long))["z"]
        z1 = module.inference(x, species, torch.ones(6, dtype=torch.long))["z"]
    assert (z0 - z1).norm(dim=1).min() > 1e-3  # training gave the condition tokens a role


def test_early_stopping_and_validation(adata):
    uge.UGE.setup_anndata(adata)
    model = uge.UGE(adata, d_model=16, n_heads=2, max_tokens=32)
    model.train(
        max_epochs=3, early_stopping=True, accelerator="cpu", devices=1, enable_progress_bar=False
    )
    assert "validation_loss" in model.history
    assert len(model.validation_indices) > 0


def test_save_with_anndata_and_load_without(trained, tmp_path):
    model, _ = trained
    model.save(str(tmp_path / "m"), save_anndata=True)
    loaded = uge.UGE.load(str(tmp_path / "m"))
    np.testing.assert_array_equal(
        loaded.get_latent_representation(), model.get_latent_representation()
    )
    model.save(str(tmp_path / "bare"))
    with pytest.raises(ValueError, match="No AnnData saved"):
        uge.UGE.load(str(tmp_path / "bare"))


def test_gradients_are_clipped_by_default(adata):
    """Training clips the total gradient norm at 1 unless told otherwise: the step after
    clipping moves the weights as a gradient of norm 1 would (SGD, so the step is lr x
    the clipped gradient)."""
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    steps = {}
    for clip in ("default", None):
        scvi.settings.seed = 0
        # a heavy classifier loss, so that the gradient's norm is well above 1
        model = uge.UGE(adata, d_model=16, n_heads=2, classification_weight=100.0)
        before = torch.cat([p.detach().clone().ravel() for p in model.module.parameters()])
        kwargs = {} if clip == "default" else {"gradient_clip_val": clip}
        model.train(
            max_epochs=1,
            max_steps=1,
            batch_size=64,
            plan_kwargs={
                "optimizer": "Custom",
                "optimizer_creator": lambda params: torch.optim.SGD(params, lr=1.0),
            },
            enable_progress_bar=False,
            **kwargs,
        )
        after = torch.cat([p.detach().ravel() for p in model.module.parameters()])
        steps[clip] = float((after - before).norm())
    assert steps["default"] == pytest.approx(1.0, rel=1e-3)
    assert steps[None] > 10


def test_deterministic_training_turns_off_the_cudnn_autotuner(adata, recwarn):
    """Deterministic mode (the default) trains with cudnn's autotuner off, without Lightning's
    warning that the two contradict each other; ``deterministic=False`` turns it on."""
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    before, seen = torch.backends.cudnn.benchmark, {}
    try:
        for deterministic in ("warn", False):
            model = uge.UGE(adata, d_model=16, n_heads=2)
            model.train(
                max_epochs=1, max_steps=1, deterministic=deterministic, enable_progress_bar=False
            )
            seen[deterministic] = torch.backends.cudnn.benchmark
    finally:
        torch.backends.cudnn.benchmark = before
    assert seen == {"warn": False, False: True}
    assert not any("cudnn.benchmark" in str(w.message) for w in recwarn.list)
