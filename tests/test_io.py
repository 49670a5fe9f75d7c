"""Models saved by uge 0.1.0 before the house was rebuilt still load, with their latents.

``tests/data/uge_0.1.0_*`` were written by ``tests/data/make_models_0_1_0.py`` with the
code of commit 91de168: a two-species model, a mouse-only reference and a query model
adding rat to it (the 0.1.0 files record no model inputs, the query's sit in its
``query`` entry).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import uge

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
from make_models_0_1_0 import study  # noqa: E402


@pytest.fixture(scope="module")
def data():
    adata = study()
    del adata.uns["uge_truth"]
    return adata


def test_a_model_of_0_1_0_loads(data):
    path = DATA / "uge_0.1.0_full"
    assert "inputs" not in json.loads((path / "uge_model.json").read_text())
    model = uge.UGE.load(str(path), data.copy())
    np.testing.assert_allclose(
        model.get_latent_representation(), np.load(path / "latents.npy"), rtol=1e-5, atol=1e-6
    )
    assert model.gene_alignment_["mode"] in ("both", "orthologs")


def test_a_query_model_of_0_1_0_loads(data):
    rat = (data.obs["species"] == "rat").to_numpy()
    mouse_genes = (data.var["species"] == "mouse").to_numpy()
    reference = uge.UGE.load(str(DATA / "uge_0.1.0_mouse"), data[~rat][:, mouse_genes].copy())
    query = uge.UGE.prepare_query_anndata(data[rat].copy(), reference)
    path = DATA / "uge_0.1.0_query"
    model = uge.UGE.load(str(path), query)
    assert model.query_["reference_species"] == ["mouse"] and model.species_ == ["mouse", "rat"]
    np.testing.assert_allclose(
        model.get_latent_representation(), np.load(path / "latents.npy"), rtol=1e-5, atol=1e-6
    )
    # still a query model: the reference's genes stay frozen
    n_ref = reference.adata.n_vars
    before = model.module.embedding.gene.weight.detach().clone()
    model.train(max_epochs=1, enable_progress_bar=False)
    after = model.module.embedding.gene.weight.detach()
    assert np.array_equal(after[:n_ref].numpy(), before[:n_ref].numpy())
    assert not np.array_equal(after[n_ref:].numpy(), before[n_ref:].numpy())


def test_a_model_saved_now_loads_from_its_inputs(data, tmp_path):
    """A model saved now records its inputs; loading builds from them, with the same latents."""
    model = uge.UGE.load(str(DATA / "uge_0.1.0_full"), data.copy())
    model.save(str(tmp_path / "m"))
    meta = json.loads((tmp_path / "m" / "uge_model.json").read_text())
    assert set(meta["inputs"]) == {"prior_pairs", "gene_alignment"}
    again = uge.UGE.load(str(tmp_path / "m"), data.copy())
    np.testing.assert_array_equal(
        again.get_latent_representation(), model.get_latent_representation()
    )
    assert again.gene_alignment_ == model.gene_alignment_


def test_a_newer_format_names_the_version(data, tmp_path):
    shutil.copytree(DATA / "uge_0.1.0_full", tmp_path / "m")
    meta_path = tmp_path / "m" / "uge_model.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"saved by uge 0\.1\.0 in model format 99, newer"):
        uge.UGE.load(str(tmp_path / "m"), data.copy())
