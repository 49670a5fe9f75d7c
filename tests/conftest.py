"""Shared fixtures and the ``slow`` marker's automatic part.

Tests that use the expensive trained fixtures (``trained``, ``heldout``) are marked
``slow``; ``pytest -m "not slow"`` leaves them out.
"""

from __future__ import annotations

import logging

import anndata as ad
import pytest
import scvi

import uge

scvi.settings.progress_bar_style = "tqdm"

#: Session fixtures that train a model: every test using one is marked ``slow``.
EXPENSIVE_FIXTURES = frozenset({"trained", "heldout"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use an expensive session fixture ``slow`` (before ``-m``)."""
    for item in items:
        if EXPENSIVE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _seed_and_logging(caplog):
    scvi.settings.seed = 0
    caplog.set_level(logging.INFO, logger="uge")


@pytest.fixture(scope="session")
def study() -> ad.AnnData:
    """Small two-species study with two well-separated organs, control and one drug."""
    return uge.datasets.simulate_study(
        n_samples_per_species=80,
        organs=("brain", "liver"),
        drugs=("tetracycline",),
        n_genes=150,
        seed=0,
    )


@pytest.fixture
def adata(study) -> ad.AnnData:
    """A fresh copy of the study without its truth (what a user would have)."""
    a = study.copy()
    del a.uns["uge_truth"]
    return a


@pytest.fixture(scope="session")
def trained(study):
    """A UGE model trained on (a copy of) the small study, with its AnnData."""
    a = study.copy()
    uge.UGE.setup_anndata(a, labels_key="organ", condition_key="drug")
    model = uge.UGE(a, orthologs=a.uns["orthologs"], d_model=32, n_heads=2, max_tokens=64)
    # 60 epochs: with gradient clipping (the default) 40 left its reactome at r 0.59
    model.train(max_epochs=60, batch_size=64, enable_progress_bar=False)
    return model, a


@pytest.fixture(scope="session")
def heldout():
    """A model trained on a small study without its rat x tetracycline samples.

    Without rewired genes: in a study this small, rewiring (which picks drug-responsive
    families first) leaves no one-to-one ortholog that responds. Returns the model, the full
    AnnData (rat x tetracycline included, never trained on) and the simulator's truth.
    """
    full = uge.datasets.simulate_study(
        n_samples_per_species=80,
        organs=("brain", "liver"),
        drugs=("tetracycline",),
        n_genes=150,
        rewired_fraction=0.0,
        seed=0,
    )
    truth = full.uns.pop("uge_truth")
    held = ((full.obs["species"] == "rat") & (full.obs["drug"] == "tetracycline")).to_numpy()
    train = full[~held].copy()
    uge.UGE.setup_anndata(train, labels_key="organ", condition_key="drug")
    model = uge.UGE(train, orthologs=train.uns["orthologs"], d_model=32, n_heads=2, max_tokens=64)
    model.train(max_epochs=100, enable_progress_bar=False)
    return model, full, truth
