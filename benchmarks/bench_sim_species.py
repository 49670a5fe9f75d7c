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

import pandas as pd
from _harness import RESULTS, command, section, setup_model, simulate, train, write

import uge
from uge.model._uge import default_max_epochs

CONDITION, SOURCE, TARGET = "tetracycline", "mouse", "rat"


def _means(
    truth: dict, species: str, organs: list[str], drug: str, genes: pd.Index
) -> pd.DataFrame:
    """The simulator's true group means of ``species`` under ``drug``, one row per organ."""
    gm = truth["group_means"]
    rows = gm.loc[[f"{species}|{o}|{drug}" for o in organs], genes]
    return rows.set_axis(organs, axis=0)


def _r2(
    means: dict[str, pd.DataFrame],
    observed: pd.DataFrame,
    control: pd.DataFrame,
    organs: list[str],
) -> dict[str, tuple[float, float]]:
    """Median R² (all genes, top 100 DEGs) over ``organs`` of each prediction."""
    out = {}
    for name, m in means.items():
        r = uge.tl.perturbation_r2(m.loc[organs], observed.loc[organs], 100, control.loc[organs])
        out[name] = (float(r["r2"].median()), float(r["r2_degs"].median()))
    return out


def across(seed: int, species: tuple[str, ...], step_factor: float = 1.0) -> dict:
    study = simulate(seed, species=species)
    truth = study.uns.pop("uge_truth")
    orthologs = study.uns.pop("orthologs")
    held = ((study.obs["species"] == TARGET) & (study.obs["drug"] == CONDITION)).to_numpy()
    seen = study[~held].copy()
    model = setup_model(seen, orthologs)
    epochs = default_max_epochs(seen.n_obs, 32, int(1800 * step_factor))  # default steps
    seconds = train(model, epochs)
    rat = (study.obs["species"] == TARGET).to_numpy()
    model.predict_labels(SOURCE, TARGET, adata=study, key_added="uge_prediction")
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
            seen, CONDITION, SOURCE, TARGET, orthologs, condition_key="drug", labels_key="organ"
        )
    )
    observed = _means(truth, TARGET, organs, CONDITION, genes)
    control = _means(truth, TARGET, organs, "control", genes)
    return {"accuracy": accuracy, "r2": _r2(means, observed, control, responding), "s": seconds}


def within(seed: int) -> dict:
    study = simulate(seed, species=(SOURCE,))
    truth = study.uns.pop("uge_truth")
    organs = list(study.obs["organ"].cat.categories)
    organ = next(o for o in organs if truth["responding"].loc[o, CONDITION])
    held = ((study.obs["organ"] == organ) & (study.obs["drug"] == CONDITION)).to_numpy()
    seen = study[~held].copy()
    model = setup_model(seen, None)
    train(model)
    pred = model.predict_perturbation(
        CONDITION, SOURCE, labels=[organ], source_species=SOURCE, adata=seen
    )
    means = {"UGE": uge.tl.pseudobulk(pred, "organ")}
    means.update(
        uge.tl.perturbation_baselines(
            seen,
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
    rows = []
    for seed in args.seeds:
        for n in args.species:
            species = (SOURCE, TARGET, "human")[:n]
            res = across(seed, species, args.step_factor)
            r2 = res["r2"]
            rows.append(
                (
                    seed,
                    ", ".join(species),
                    f"{res['accuracy']:.3f}",
                    *(f"{r2[m][0]:.3f}" for m in methods),
                    f"{r2['UGE'][1]:.3f}",
                    f"{r2['additive'][1]:.3f}",
                    f"{res['s']:.0f}",
                )
            )
            print(rows[-1], flush=True)
    title = "Simulator: 2 vs 3 species, and within one species" + (
        f", {args.step_factor:g} times the training steps" if args.step_factor != 1 else ""
    )
    text = (
        f"{command(__file__, *sys.argv[1:])}: default `simulate_study` "
        "(500 samples per species, 10 organs x control + 3 drugs) per seed, default model. "
        "Rat x tetracycline held out; rat organs annotated from mouse labels; rat x "
        "tetracycline predicted from mouse. R²: median over the organs that respond of the "
        "squared Pearson correlation of predicted and true rat group means (all rat genes; "
        "DEG: the organ's top 100 DEGs)."
    )
    header = (
        "seed | species | rat organ accuracy | R² UGE | R² additive | R² no change | DEG R² UGE"
        " | DEG R² additive | train s"
    )
    lines = section(title, text, header, "rlrrrrrrr", rows)
    if args.skip_within:
        write(args.out, lines)
        return
    rows = []
    for seed in args.seeds:
        res = within(seed)
        r2 = res["r2"]
        rows.append(
            (
                seed,
                res["organ"],
                *(f"{r2[m][0]:.3f}" for m in methods),
                *(f"{r2[m][1]:.3f}" for m in methods),
            )
        )
        print(rows[-1], flush=True)
    text = (
        "Within one species: a mouse-only study, the first organ that responds to "
        "tetracycline has its tetracycline samples held out and is predicted from mouse's "
        "other organs. R² over all genes and over the organ's top 100 DEGs."
    )
    header = [
        "seed",
        "organ held out",
        *(f"R² {m}" for m in methods),
        *(f"DEG R² {m}" for m in methods),
    ]
    lines += ["", *section(None, text, header, "rlrrrrrr", rows)]
    write(args.out, lines)


if __name__ == "__main__":
    main()
