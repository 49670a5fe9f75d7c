"""Write the models that ``tests/test_io.py`` loads: saved by uge 0.1.0 before the house
was rebuilt (commit 91de168), to show that models of that version still load.

Run with that version of uge on the path, from the repository root:
``PYTHONPATH=<checkout of 91de168>/src python tests/data/make_models_0_1_0.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scvi

import uge

HERE = Path(__file__).parent


def study():
    """The small study both the writer and the test build (same arguments, same data)."""
    return uge.datasets.simulate_study(
        n_samples_per_species=40,
        organs=("brain", "liver"),
        drugs=("tetracycline",),
        n_genes=60,
        seed=0,
    )


def main() -> None:
    scvi.settings.seed = 0
    adata = study()
    del adata.uns["uge_truth"]
    rat = (adata.obs["species"] == "rat").to_numpy()
    reference = adata[~rat].copy()
    reference.var = reference.var.copy()
    mouse_genes = (adata.var["species"] == "mouse").to_numpy()
    reference = reference[:, mouse_genes].copy()
    for name, data in (("full", adata), ("mouse", reference)):
        uge.UGE.setup_anndata(data, labels_key="organ", condition_key="drug")
        model = uge.UGE(
            data,
            orthologs=adata.uns["orthologs"] if name == "full" else None,
            d_model=8,
            n_heads=2,
            n_latent=4,
            n_hidden=8,
            max_tokens=16,
        )
        model.train(max_epochs=2, enable_progress_bar=False)
        model.save(str(HERE / f"uge_0.1.0_{name}"), overwrite=True)
        np.save(HERE / f"uge_0.1.0_{name}" / "latents.npy", model.get_latent_representation())
        if name == "mouse":  # a query model adding rat to the mouse-only reference
            query = uge.UGE.prepare_query_anndata(adata[rat].copy(), model)
            extended = uge.UGE.load_query_data(query, model, orthologs=adata.uns["orthologs"])
            extended.train(max_epochs=2, enable_progress_bar=False)
            extended.save(str(HERE / "uge_0.1.0_query"), overwrite=True)
            np.save(HERE / "uge_0.1.0_query" / "latents.npy", extended.get_latent_representation())


if __name__ == "__main__":
    main()
