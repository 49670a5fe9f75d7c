"""Where UGE's poly(I:C) response is lost on its way to a held-out species (Hagai 2018).

Human PIC8 cells held out (as in :mod:`bench_hagai`), UGE trained with its defaults and,
once more, with ``gene_align_weight=1000``. For each other species (rat, rhesus) the
same latents, that species' PIC8 and unst cells, are decoded into its own genes and into
human genes; the decoded response (mean PIC8 minus mean unst, log1p CP10k over the
ortholog rows) is correlated with the species' measured response. Then the human control
cells' latents plus the species' latent shift (``predict_perturbation``) give the
predicted human response, correlated with the measured human response. Prints one line
per training. Usage: ``python benchmarks/diag_hagai_transfer.py --data-dir ../shared/data``.
"""

from __future__ import annotations

import argparse

import anndata as ad
import numpy as np
import pandas as pd
import scvi
from bench_hagai import Case, Study, load

import uge


def decoded(model: uge.UGE, study: Study, mask: np.ndarray, species: str) -> np.ndarray:
    """Mean log1p CP10k of the masked cells decoded into ``species``' genes."""
    rec = model.get_reconstructed_expression(indices=np.flatnonzero(mask), target_species=species)
    values = ad.AnnData(rec.to_numpy(), var=pd.DataFrame(index=rec.columns.astype(str)))
    return study.aligned(values, species)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    study = Study(load(args.data_dir))
    case = Case(study, "human")
    human_shift = study.shift("human")
    for kwargs in ({}, {"gene_align_weight": 1000.0}):
        scvi.settings.seed = 0
        adata = case.train.copy()
        uge.UGE.setup_anndata(adata, condition_key="condition", control_condition="unst")
        model = uge.UGE(adata, orthologs=adata.uns["orthologs"], **kwargs)
        model.train(max_epochs=100, enable_progress_bar=False)
        obs = adata.obs
        control = ((obs["species"] == "human") & (obs["condition"] == "unst")).to_numpy()
        human_control = decoded(model, study, control, "human")
        out = {}
        for src in ("rat", "rhesus"):
            on = ((obs["species"] == src) & (obs["condition"] == "PIC8")).to_numpy()
            off = ((obs["species"] == src) & (obs["condition"] == "unst")).to_numpy()
            own = decoded(model, study, on, src) - decoded(model, study, off, src)
            into_human = decoded(model, study, on, "human") - decoded(model, study, off, "human")
            pred = model.predict_perturbation("PIC8", "human", source_species=src)
            shifted = study.aligned(pred, "human") - human_control
            true = study.shift(src)
            out[src] = {
                "decoded in own genes vs measured": np.corrcoef(own, true)[0, 1],
                "decoded in human genes vs measured": np.corrcoef(into_human, true)[0, 1],
                "human latents + shift vs human measured": np.corrcoef(shifted, human_shift)[0, 1],
                "measured vs human measured": np.corrcoef(true, human_shift)[0, 1],
            }
        print(kwargs or "defaults", pd.DataFrame(out).round(3).to_dict(), flush=True)


if __name__ == "__main__":
    main()
