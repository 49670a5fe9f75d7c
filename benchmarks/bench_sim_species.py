"""Simulator: does a third species cost quality, and does within-species prediction work?

Two measurements on ``simulate_study`` (500 samples per species, default design), each
seed a new study and new models, baselines in the same run:

1. **2 vs 3 species.** Rat x tetracycline is held out of training; the model is trained
   on mouse + rat, or on mouse + rat + human. Reported: rat organ annotation from mouse
   labels (``predict_labels``, all rat samples), and rat x tetracycline predicted from
   mouse (``predict_perturbation``): median R² over the organs that respond, UGE against
   the additive ortholog baseline and no change, and the same over each organ's top 100
   DEGs.
2. **Within one species.** A mouse-only study; one responding organ's tetracycline
   samples are held out and predicted from the shift of mouse's other organs
   (``predict_perturbation(source_species="mouse")``, as scGen does), against no change
   and the additive baseline (control of the organ plus the mean shift of the other
   organs, gene by gene).

Writes ``benchmarks/results/sim_species.md``. Usage::

    python benchmarks/bench_sim_species.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd
import scvi
from _common import RESULTS, write

import uge
from uge.model._uge import default_max_epochs

CONDITION, SOURCE, TARGET = "tetracycline", "mouse", "rat"


def _means(truth: dict, species: str, organs: list[str], drug: str, genes) -> pd.DataFrame:
    gm = truth["group_means"]
    rows = gm.loc[[f"{species}|{o}|{drug}" for o in organs], genes]
    return rows.set_axis(organs, axis=0)


def _r2(means: dict, observed, control, organs) -> dict:
    out = {}
    for name, m in means.items():
        r = uge.tl.perturbation_r2(m.loc[organs], observed.loc[organs], 100, control.loc[organs])
        out[name] = (float(r["r2"].median()), float(r["r2_degs"].median()))
    return out


def across(seed: int, species: tuple[str, ...], step_factor: float = 1.0) -> dict:
    scvi.settings.seed = seed
    study = uge.datasets.simulate_study(species=species, seed=seed)
    truth = study.uns.pop("uge_truth")
    orthologs = study.uns.pop("orthologs")
    held = ((study.obs["species"] == TARGET) & (study.obs["drug"] == CONDITION)).to_numpy()
    train = study[~held].copy()
    uge.UGE.setup_anndata(train, labels_key="organ", condition_key="drug")
    model = uge.UGE(train, orthologs=orthologs)
    t0 = time.perf_counter()
    epochs = default_max_epochs(train.n_obs, 32, int(1800 * step_factor))  # default steps
    model.train(max_epochs=epochs, enable_progress_bar=False)
    seconds = time.perf_counter() - t0
    rat = (study.obs["species"] == TARGET).to_numpy()
    model.predict_labels(SOURCE, TARGET, adata=study)
    accuracy = float(
        (study.obs["uge_prediction"][rat].astype(str) == study.obs["organ"][rat].astype(str)).mean()
    )
    genes = study.var_names[study.var["species"] == TARGET]
    organs = list(study.obs["organ"].cat.categories)
    responding = [o for o in organs if truth["responding"].loc[o, CONDITION]]
    pred = model.predict_perturbation(CONDITION, TARGET, source_species=SOURCE, adata=study)
    means = {"UGE": uge.tl.pseudobulk(pred, "organ")}
    means.update(
        uge.tl.perturbation_baselines(
            train, CONDITION, SOURCE, TARGET, orthologs, condition_key="drug", labels_key="organ"
        )
    )
    observed = _means(truth, TARGET, organs, CONDITION, genes)
    control = _means(truth, TARGET, organs, "control", genes)
    return {"accuracy": accuracy, "r2": _r2(means, observed, control, responding), "s": seconds}


def within(seed: int) -> dict:
    scvi.settings.seed = seed
    study = uge.datasets.simulate_study(species=(SOURCE,), seed=seed)
    truth = study.uns.pop("uge_truth")
    organs = list(study.obs["organ"].cat.categories)
    organ = next(o for o in organs if truth["responding"].loc[o, CONDITION])
    held = ((study.obs["organ"] == organ) & (study.obs["drug"] == CONDITION)).to_numpy()
    train = study[~held].copy()
    uge.UGE.setup_anndata(train, labels_key="organ", condition_key="drug")
    model = uge.UGE(train)
    model.train(enable_progress_bar=False)
    pred = model.predict_perturbation(
        CONDITION, SOURCE, labels=[organ], source_species=SOURCE, adata=train
    )
    means = {"UGE": uge.tl.pseudobulk(pred, "organ")}
    means.update(
        uge.tl.perturbation_baselines(
            train,
            CONDITION,
            SOURCE,
            SOURCE,
            None,
            condition_key="drug",
            labels_key="organ",
            labels=[organ],
        )
    )
    genes = study.var_names
    observed = _means(truth, SOURCE, [organ], CONDITION, genes)
    control = _means(truth, SOURCE, [organ], "control", genes)
    return {"organ": organ, "r2": _r2(means, observed, control, [organ])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=RESULTS / "sim_species.md")
    parser.add_argument(
        "--step-factor", type=float, default=1.0, help="times the default training steps"
    )
    parser.add_argument("--species", type=int, nargs="+", default=[2, 3], help="2 and/or 3")
    parser.add_argument("--skip-within", action="store_true")
    args = parser.parse_args()
    methods = ("UGE", "additive", "no change")
    lines = [
        "## Simulator: 2 vs 3 species, and within one species"
        + (f", {args.step_factor:g} times the training steps" if args.step_factor != 1 else ""),
        "",
        f"`python benchmarks/bench_sim_species.py {' '.join(sys.argv[1:])}`".replace(" `", "`")
        + ": default `simulate_study` "
        "(500 samples per species, 10 organs x control + 3 drugs) per seed, default model. "
        "Rat x tetracycline held out; rat organs annotated from mouse labels; rat x "
        "tetracycline predicted from mouse. R²: median over the organs that respond of the "
        "squared Pearson correlation of predicted and true rat group means (all rat genes; "
        "DEG: the organ's top 100 DEGs).",
        "",
        "| seed | species | rat organ accuracy | R² UGE | R² additive | R² no change "
        "| DEG R² UGE | DEG R² additive | train s |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for seed in args.seeds:
        for n in args.species:
            species = (SOURCE, TARGET, "human")[:n]
            res = across(seed, species, args.step_factor)
            r2 = res["r2"]
            row = (
                f"| {seed} | {', '.join(species)} | {res['accuracy']:.3f} | "
                + " | ".join(f"{r2[m][0]:.3f}" for m in methods)
                + f" | {r2['UGE'][1]:.3f} | {r2['additive'][1]:.3f} | {res['s']:.0f} |"
            )
            print(row, flush=True)
            lines.append(row)
    if args.skip_within:
        write(args.out, lines)
        return
    lines += [
        "",
        "Within one species: a mouse-only study, the first organ that responds to "
        "tetracycline has its tetracycline samples held out and is predicted from mouse's "
        "other organs. R² over all genes and over the organ's top 100 DEGs.",
        "",
        "| seed | organ held out | R² UGE | R² additive | R² no change | DEG R² UGE "
        "| DEG R² additive | DEG R² no change |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for seed in args.seeds:
        res = within(seed)
        r2 = res["r2"]
        row = (
            f"| {seed} | {res['organ']} | "
            + " | ".join(f"{r2[m][0]:.3f}" for m in methods)
            + " | "
            + " | ".join(f"{r2[m][1]:.3f}" for m in methods)
            + " |"
        )
        print(row, flush=True)
        lines.append(row)
    write(args.out, lines)


if __name__ == "__main__":
    main()
