"""The data path at scale: chunked statistics, sparse and backed input, per-species decoding."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
import torch
import torch.nn.functional as F
from scipy import sparse
from scvi import REGISTRY_KEYS
from scvi.distributions import NegativeBinomial
from torch.distributions import Normal

import uge
from uge.core import _chunks, compute_reactome
from uge.model._inputs import gene_statistics

BUFFERS = ("gene_mean", "gene_std", "token_candidates", "gene_pairs", "decoder.gene_bias")


@pytest.fixture
def small_chunks(monkeypatch):
    """Read 7 rows at a time, so that every statistic is merged over several chunks."""
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 7)


def _dense_reference(x: np.ndarray, likelihood: str) -> tuple[np.ndarray, ...]:
    """The statistics as computed before chunking: on a dense float64 copy."""
    if likelihood == "gaussian":
        return x.mean(0), x.std(0), x.mean(0)
    share = x / np.maximum(x.sum(1, keepdims=True), 1)
    xs = np.log1p(share * 1e4)
    return xs.mean(0), xs.std(0), np.log(share.mean(0) + 1e-8)


@pytest.mark.parametrize("likelihood", ["nb", "gaussian"])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_gene_statistics_match_dense_reference(small_chunks, likelihood, fmt):
    rng = np.random.default_rng(0)
    x = rng.negative_binomial(2, 0.3, (50, 30)).astype(np.float32)
    x[:, 3] = 0  # a gene never expressed
    x[5] = 0  # a sample with no counts
    rows, cols = np.arange(3, 48, 2), np.arange(1, 25)
    data = sparse.csr_matrix(x) if fmt == "csr" else x
    got = gene_statistics(data, rows, cols, likelihood)
    want = _dense_reference(x[rows][:, cols].astype(np.float64), likelihood)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)


def test_row_chunks_cover_rows_in_bounded_blocks(small_chunks):
    x = sparse.random(40, 12, density=0.3, format="csr", random_state=0)
    rows, cols = np.array([0, 1, 2, 5, 9, 10, 11, 12, 13, 14, 15, 30, 39]), np.array([2, 7, 11])
    for data in (x, x.toarray()):
        parts = list(_chunks.row_chunks(data, rows, cols))
        assert all(len(idx) <= 7 for idx, _ in parts)
        assert all(sparse.issparse(b) == sparse.issparse(data) for _, b in parts)
        np.testing.assert_array_equal(np.concatenate([idx for idx, _ in parts]), rows)
        blocks = [b.toarray() if sparse.issparse(b) else b for _, b in parts]
        np.testing.assert_array_equal(np.vstack(blocks), x.toarray()[rows][:, cols])


def _model(adata: ad.AnnData, **kwargs) -> uge.UGE:
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    return uge.UGE(adata, orthologs=adata.uns["orthologs"], d_model=16, n_heads=2, **kwargs)


def _buffers(model: uge.UGE) -> dict[str, np.ndarray]:
    state = model.module.state_dict()
    return {k: state[k].numpy() for k in BUFFERS}


def test_sparse_and_dense_input_give_the_same_model_inputs(adata, small_chunks):
    dense = adata.copy()
    dense.X = dense.X.toarray()
    a, b = _buffers(_model(adata)), _buffers(_model(dense))
    for key in BUFFERS:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-6, err_msg=key)


def test_reactome_does_not_depend_on_chunks(adata, monkeypatch):
    args = (adata, "species", "organ", "drug", "control", None, 3)
    whole = compute_reactome(*args)
    monkeypatch.setattr(_chunks, "CHUNK_ROWS", 7)
    chunked = compute_reactome(*args)
    for w, c in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(w.to_numpy(), c.to_numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fmt", ["csr", "dense"])
def test_backed_anndata_setup_training_and_latents(adata, tmp_path, fmt):
    """A backed h5ad trains and embeds, with the statistics and latents of in-memory data."""
    if fmt == "dense":
        adata.X = adata.X.toarray()
    path = tmp_path / "study.h5ad"
    adata.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    assert backed.isbacked
    model = _model(backed, max_tokens=32)
    memory = _model(adata, max_tokens=32)
    a, b = _buffers(model), _buffers(memory)
    for key in BUFFERS:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-6, err_msg=key)

    model.train(max_epochs=1, batch_size=32, enable_progress_bar=False)
    z = model.get_latent_representation()
    assert z.shape == (adata.n_obs, 32) and np.isfinite(z).all()
    memory.module.load_state_dict(model.module.state_dict())
    memory.is_trained_ = True
    np.testing.assert_allclose(memory.get_latent_representation(), z, rtol=1e-5, atol=1e-5)


def _masked_reference(module, tensors: dict, inference: dict) -> tuple[torch.Tensor, ...]:
    """The decoding before per-species decoding: every gene of every species, then masked."""
    logits = module.gene_logits(inference["z"])
    mask = module.species_genes[inference["species"]]
    if module.likelihood == "gaussian":
        px = Normal(logits, F.softplus(module.px_r) + 1e-3)
        mean = logits * mask
    else:
        scale = logits.masked_fill(~mask, float("-inf")).softmax(-1)
        mean = scale * inference["library"]
        px = NegativeBinomial(mu=mean, theta=module.px_r.exp())
    nll = -px.log_prob(tensors[REGISTRY_KEYS.X_KEY]) * mask
    return nll.sum(-1) / mask.sum(-1), mean


@pytest.mark.parametrize("log_normalised", [False, True])
def test_per_species_decoding_matches_masked_decoding(log_normalised):
    study = uge.datasets.simulate_study(
        n_samples_per_species=30,
        species=("mouse", "rat", "human"),
        organs=("brain", "liver"),
        drugs=("tetracycline",),
        n_genes=60,
        seed=0,
    )
    if log_normalised:
        sc.pp.normalize_total(study)
        sc.pp.log1p(study)
    model = _model(study, max_tokens=32)
    module = model.module
    with torch.no_grad():  # a decoder that is not at its initial state
        for p in module.decoder.parameters():
            p.add_(0.1 * torch.randn_like(p))
        module.px_r.add_(0.3 * torch.randn_like(module.px_r))
    rows = np.random.default_rng(0).permutation(study.n_obs)[:40]
    tensors = next(iter(model._make_data_loader(adata=study, indices=np.sort(rows), batch_size=40)))
    # in float64: with counts up to 6e5, the negative binomial's lgamma terms reach 7e6, where
    # float32 rounding alone moves the loss by 1e-2 depending on the order of operations
    module.double()
    tensors = {k: v.double() if v.is_floating_point() else v for k, v in tensors.items()}
    inference = module.inference(**module._get_inference_input(tensors))
    assert len(inference["species"].unique()) == 3
    widths = []
    hook = module.decoder.register_forward_hook(lambda m, i, o: widths.append(o.shape[1]))
    generative = module.generative(**module._get_generative_input(tensors, inference))
    hook.remove()
    # each species' samples were decoded into that species' genes only
    assert sorted(widths) == sorted(int(module.species_genes[s].sum()) for s in range(3))
    recon = module.loss(tensors, inference, generative).reconstruction_loss["reconstruction_loss"]
    want_recon, want_mean = _masked_reference(module, tensors, inference)
    torch.testing.assert_close(recon, want_recon, rtol=1e-5, atol=1e-5)
    mean = module.expected_values(generative, len(rows))
    torch.testing.assert_close(mean, want_mean, rtol=1e-5, atol=1e-5)


def _pairwise_mmd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The latent alignment's MMD of one pair of groups, written out as a loop would."""
    both = torch.cat([a, b])
    d2 = torch.cdist(both, both).pow(2)
    scale = d2.detach().mean().clamp_min(1e-6)
    k = sum(torch.exp(-d2 / (scale * s)) for s in (0.1, 1.0, 10.0))
    n = len(a)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


@pytest.mark.parametrize("n_conditions", [0, 3])
def test_latent_alignment_matches_loop_over_species_pairs(n_conditions):
    # the batched MMD (all species pairs of all conditions at once) equals one MMD per
    # pair of species with 2+ samples in a condition, averaged over pairs
    gene_species = torch.arange(4).repeat_interleave(5)
    module = uge.module.UGEModule(
        gene_species, torch.ones(4, 20, dtype=torch.bool), n_conditions=n_conditions
    )
    gen = torch.Generator().manual_seed(0)
    for n in (6, 32, 64):
        z = torch.randn(n, 8, generator=gen, requires_grad=True)
        species = torch.randint(0, 4, (n,), generator=gen)
        condition = torch.randint(0, 3, (n,), generator=gen) if n_conditions else None
        groups = torch.zeros_like(species) if condition is None else condition
        terms = []
        for g in range(3):
            present = [s for s in range(4) if ((groups == g) & (species == s)).sum() > 1]
            for i, a in enumerate(present):
                for b in present[i + 1 :]:
                    sel_a, sel_b = (groups == g) & (species == a), (groups == g) & (species == b)
                    terms.append(_pairwise_mmd(z[sel_a], z[sel_b]))
        want = torch.stack(terms).mean() if terms else torch.zeros(())
        got = module.latent_alignment_loss(z, species, condition)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        if terms:
            (grad,) = torch.autograd.grad(got, z)
            (want_grad,) = torch.autograd.grad(want, z)
            torch.testing.assert_close(grad, want_grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("log_normalised", [False, True])
def test_bf16_mixed_precision_trains(adata, log_normalised):
    if log_normalised:
        sc.pp.normalize_total(adata)
        sc.pp.log1p(adata)
    model = _model(adata, max_tokens=32)
    model.train(max_epochs=1, batch_size=32, precision="bf16-mixed", enable_progress_bar=False)
    loss = model.history["reconstruction_loss_train"].to_numpy().ravel().astype(float)
    assert len(loss) == 1 and np.isfinite(loss).all()
    z = model.get_latent_representation()
    assert z.dtype == np.float32 and np.isfinite(z).all()


def test_sparse_blocks_match_dense_indexing():
    from uge.module._sparse import block, own_species_sums

    x = sparse.random(9, 14, density=0.4, format="csr", random_state=1, dtype=np.float32)
    dense = torch.as_tensor(x.toarray())
    csr = torch.sparse_csr_tensor(
        torch.as_tensor(x.indptr), torch.as_tensor(x.indices), torch.as_tensor(x.data), x.shape
    )
    rows, cols = torch.tensor([7, 0, 3]), torch.tensor([13, 2, 5, 0])
    torch.testing.assert_close(block(csr, cols), dense[:, cols], rtol=0, atol=0)
    torch.testing.assert_close(block(csr, cols, rows), dense[rows][:, cols], rtol=0, atol=0)
    gene_species, species = torch.arange(14) % 3, torch.arange(9) % 3
    torch.testing.assert_close(
        own_species_sums(csr, species, gene_species),
        own_species_sums(dense, species, gene_species),
    )


def test_sparse_minibatches_stay_sparse_and_match_dense_input(adata):
    """CSR data reach the module as sparse tensors, in training and for latents, and give
    the tokens, loss and latents of the same data dense (tokens chosen among more candidate
    genes than max_tokens, so that the choice is a real top-k)."""
    rng = np.random.default_rng(0)
    adata.var["highly_variable"] = rng.random(adata.n_vars) < 0.3
    dense = adata.copy()
    dense.X = dense.X.toarray()
    model, twin = _model(adata, max_tokens=16), _model(dense, max_tokens=16)
    assert model.module.token_candidates.sum(1).min() > 16
    layouts = []
    inference = model.module.inference

    def record(x, *args, **kwargs):
        layouts.append(x.layout)
        return inference(x, *args, **kwargs)

    model.module.inference = record
    model.train(max_epochs=1, batch_size=32, enable_progress_bar=False)
    z = model.get_latent_representation()
    assert set(layouts) == {torch.sparse_csr}
    twin.module.load_state_dict(model.module.state_dict())
    twin.is_trained_ = True
    np.testing.assert_allclose(twin.get_latent_representation(), z, rtol=1e-6, atol=1e-6)

    tensors = next(iter(model._make_data_loader(adata, batch_size=40, load_sparse_tensor=True)))
    x = tensors[REGISTRY_KEYS.X_KEY]
    species = tensors["species"].ravel().long()
    assert x.layout == torch.sparse_csr
    module = model.module.eval()
    for got, want in zip(
        module.select_tokens(x, species), module.select_tokens(x.to_dense(), species), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    with torch.no_grad():
        losses = []
        for t in (tensors, {**tensors, REGISTRY_KEYS.X_KEY: x.to_dense()}):
            _, _, out = module(t)
            losses.append(out.loss)
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-6, atol=1e-6)
