"""Where UGE's poly(I:C) response is lost on its way to a held-out species (Hagai 2018).

Human PIC8 cells held out (as in :mod:`bench_hagai`), UGE trained on the counts with its
defaults and, once more, with ``gene_align_weight=1000``. Measured at each step of the
prediction ``predict_perturbation("PIC8", "human", source_species=[rat, rhesus])``:

- the latents: distance between the mean latents of human and rat control cells, the size
  of the rat and rhesus shifts (mean PIC8 minus mean unst latent) and their cosine;
- the decoder's log-rates (logits, each species' mean over its genes removed): the response
  of rat cells decoded into human genes against the same cells decoded into rat genes
  (correlation over the ortholog rows), and the response of the shifted human latents
  against the measured human response (log1p CP10k, on the top-100 DEGs);
- the prediction's R² over all genes / top-100 DEGs, as ``bench_hagai`` scores it
  (expected counts to mean log1p CP10k), and the human control cells' measured mean plus
  that log-rate response instead.

Prints one line per training. Usage:
``python benchmarks/diag_hagai_transfer.py --data-dir ../shared/data``.
"""

from __future__ import annotations

import argparse

import numpy as np
import scvi
from bench_hagai import CONTROL, STIM, Case, Study, load

import uge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    study = Study(load(args.data_dir))
    case = Case(study, "human")
    truth_shift = case.truth - case.control
    for kwargs in ({}, {"gene_align_weight": 1000.0}):
        scvi.settings.seed = 0
        adata = case.train.copy()
        uge.UGE.setup_anndata(adata, condition_key="condition", control_condition=CONTROL)
        model = uge.UGE(adata, orthologs=adata.uns["orthologs"], **kwargs)
        model.train(max_epochs=args.epochs, enable_progress_bar=False)
        sp = adata.obs["species"].to_numpy().astype(str)
        cd = adata.obs["condition"].to_numpy().astype(str)
        z = model.get_latent_representation()
        logits = model._decoded(z)
        cols = {
            s: adata.var_names.get_indexer([f"{s}:{g}" for g in study.table[s]])
            for s in ("human", "rat")
        }

        mean_z = {
            (s, c): z[(sp == s) & (cd == c)].mean(0)
            for s in ("human", "rat", "rhesus")
            for c in (CONTROL, STIM)
            if ((sp == s) & (cd == c)).any()
        }
        shifts = {s: mean_z[s, STIM] - mean_z[s, CONTROL] for s in ("rat", "rhesus")}
        rat_on, rat_off = (sp == "rat") & (cd == STIM), (sp == "rat") & (cd == CONTROL)
        into = {
            s: logits[rat_on][:, cols[s]].mean(0) - logits[rat_off][:, cols[s]].mean(0)
            for s in ("human", "rat")
        }
        control = (sp == "human") & (cd == CONTROL)
        shifted = z[control] + np.mean(list(shifts.values()), 0)
        response = (model._decoded(shifted) - logits[control])[:, cols["human"]].mean(0)
        pred = model.predict_perturbation(STIM, "human", source_species=["rat", "rhesus"])
        deg = case.deg
        out = {
            "latent distance human-rat control": np.linalg.norm(
                mean_z["human", CONTROL] - mean_z["rat", CONTROL]
            ),
            "rat shift size": np.linalg.norm(shifts["rat"]),
            "rhesus shift size": np.linalg.norm(shifts["rhesus"]),
            "cosine rat-rhesus shifts": shifts["rat"]
            @ shifts["rhesus"]
            / np.linalg.norm(shifts["rat"])
            / np.linalg.norm(shifts["rhesus"]),
            "rat cells: log-rate response, human vs rat genes (corr)": np.corrcoef(
                into["human"], into["rat"]
            )[0, 1],
            "human + shift: log-rate response vs human truth, DEGs (corr)": np.corrcoef(
                response[deg], truth_shift[deg]
            )[0, 1],
            "prediction R² all / DEGs": case.r2(study.aligned(pred, "human")),
            "control + log-rate response R² all / DEGs": case.r2(case.control + response),
        }
        text = {k: np.round(v, 3).tolist() for k, v in out.items()}
        print(kwargs or "defaults", text, flush=True)


if __name__ == "__main__":
    main()
