from __future__ import annotations

import logging

import anndata as ad
import pytest
import scvi

import uge

scvi.settings.progress_bar_style = "tqdm"


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
    model.train(max_epochs=40, batch_size=64, enable_progress_bar=False)
    return model, a
