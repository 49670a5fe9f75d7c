"""Shared fixtures, the ``slow`` marker's automatic part, and a guard on shared AnnData.

The session fixtures ``study``, ``trained`` and ``heldout`` are built once and shared by
many tests, so they are read-only: a test that needs to write works on a copy (the ``adata``
fixture, ``study.copy()``, ``trained_copy``, or ``adata=...copy()`` for model methods called
with ``key_added=``, which otherwise write into ``model.adata``, the shared AnnData). After
each test, the AnnData
objects of these fixtures are compared with a snapshot taken when they were built, and a
test that changed them fails, naming what it changed.

Tests that use the expensive trained fixtures (``trained``, ``heldout``) are marked
``slow``; ``pytest -m "not slow"`` leaves them out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scvi

import uge

scvi.settings.progress_bar_style = "tqdm"

#: Session fixtures that train a model: every test using one is marked ``slow``.
EXPENSIVE_FIXTURES = frozenset({"trained", "heldout"})

#: The shared AnnData objects, by name, with their snapshot when they were built.
_SHARED: dict[str, tuple[ad.AnnData, dict[str, dict[str, object]]]] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use an expensive session fixture ``slow`` (before ``-m``)."""
    for item in items:
        if EXPENSIVE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def _describe(value: object) -> object:
    """A cheap fingerprint of a value: its type and shape (its sum for arrays)."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return type(value).__name__
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return (type(value).__name__, shape, float(np.nansum(value, dtype=np.float64)))
    if hasattr(value, "tocsr"):  # scipy sparse
        return (type(value).__name__, shape, float(value.sum(dtype=np.float64)))
    return (type(value).__name__, tuple(shape))


def _flatten(mapping: Mapping, prefix: str = "") -> dict[str, object]:
    """Every key of a nested mapping (``"a/b"``) with its value's fingerprint."""
    out: dict[str, object] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out[name] = "mapping"
            out.update(_flatten(value, f"{name}/"))
        else:
            out[name] = _describe(value)
    return out


def _snapshot(adata: ad.AnnData) -> dict[str, dict[str, object]]:
    """Keys of an AnnData's slots (and a fingerprint of each value and of ``X``)."""
    snap: dict[str, dict[str, object]] = {"X": {"X": _describe(adata.X)}}
    snap["obs"] = {c: str(adata.obs[c].dtype) for c in adata.obs.columns}
    snap["var"] = {c: str(adata.var[c].dtype) for c in adata.var.columns}
    for slot in ("obsm", "obsp", "layers", "varm", "varp"):
        snap[slot] = {k: _describe(v) for k, v in getattr(adata, slot).items()}
    snap["uns"] = _flatten(adata.uns)
    return snap


def _changes(before: dict[str, dict[str, object]], after: dict[str, dict[str, object]]):
    """What differs between two snapshots, one line per key."""
    lines = []
    for slot, old in before.items():
        new = after[slot]
        where = slot if slot == "X" else f"{slot}[{{!r}}]"
        for key in sorted(set(old) | set(new), key=str):
            name = where.format(key)
            if key not in old:
                lines.append(f"{name} added")
            elif key not in new:
                lines.append(f"{name} removed")
            elif old[key] != new[key]:
                lines.append(f"{name} changed: {old[key]} -> {new[key]}")
    return lines


def share(name: str, adata: ad.AnnData) -> ad.AnnData:
    """Register a session fixture's AnnData as read-only: its snapshot is taken now."""
    _SHARED[name] = (adata, _snapshot(adata))
    return adata


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test that changed a shared AnnData, naming the keys it changed."""
    try:
        return (yield)
    finally:
        found = []
        for name, (adata, before) in _SHARED.items():
            after = _snapshot(adata)
            lines = _changes(before, after)
            if lines:
                found.append(f"the shared AnnData of fixture {name!r}: " + "; ".join(lines))
                _SHARED[name] = (adata, after)  # one failure, not one per later test
        if found:
            pytest.fail(
                f"{item.nodeid} changed " + " and ".join(found) + ". Session fixtures are "
                "read-only: work on a copy (adata.copy(), the `adata` or `trained_copy` "
                "fixture, or pass adata=a_copy to model methods).",
                pytrace=False,
            )


@pytest.fixture(autouse=True)
def _seed_and_logging(caplog):
    scvi.settings.seed = 0
    caplog.set_level(logging.INFO, logger="uge")


@pytest.fixture(scope="session")
def study() -> ad.AnnData:
    """Small two-species study with two well-separated organs, control and one drug."""
    a = uge.datasets.simulate_study(
        n_samples_per_species=80,
        organs=("brain", "liver"),
        drugs=("tetracycline",),
        n_genes=150,
        seed=0,
    )
    return share("study", a)


@pytest.fixture
def adata(study) -> ad.AnnData:
    """A fresh copy of the study without its truth (what a user would have)."""
    a = study.copy()
    del a.uns["uge_truth"]
    return a


@pytest.fixture(scope="session")
def trained(study):
    """A UGE model trained on (a copy of) the small study, with its AnnData (read-only).

    The AnnData is ``model.adata``: model methods called with ``key_added=`` and without
    ``adata=`` write into it; use :func:`trained_copy` for those.
    """
    a = study.copy()
    uge.UGE.setup_anndata(a, labels_key="organ", condition_key="drug")
    model = uge.UGE(a, orthologs=a.uns["orthologs"], d_model=32, n_heads=2, max_tokens=64)
    # 60 epochs: with gradient clipping (the default) 40 left its reactome at r 0.59
    model.train(max_epochs=60, batch_size=64, enable_progress_bar=False)
    return model, share("trained", a)


@pytest.fixture
def trained_copy(trained, tmp_path: Path):
    """The trained model loaded onto a copy of its AnnData, for tests that write into it."""
    model, a = trained
    model.save(str(tmp_path / "trained"))
    copy = a.copy()
    return uge.UGE.load(str(tmp_path / "trained"), copy), copy


@pytest.fixture(scope="session")
def heldout():
    """A model trained on a small study without its rat x tetracycline samples.

    Without rewired genes: in a study this small, rewiring (which picks drug-responsive
    families first) leaves no one-to-one ortholog that responds. Returns the model, the full
    AnnData (rat x tetracycline included, never trained on) and the simulator's truth; both
    AnnData objects (``full`` and ``model.adata``) are read-only.
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
    share("heldout (model.adata)", train)
    return model, share("heldout (full)", full), truth
