"""The ``uge demo`` experiment over several seeds: how stable are its numbers?

Each seed simulates a new study and trains a new model (``uge demo --seed N``), holds out
rat x tetracycline, and records the median R² over responding organs of UGE and the
baselines, in how many responding organs UGE beats both baselines, and the organ
annotation accuracy of rat samples. Usage: ``python benchmarks/bench_demo_seeds.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
from _common import RESULTS, write

from uge._demo import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=RESULTS / "demo_seeds.md")
    args = parser.parse_args()
    methods = ["UGE", "UGE, condition token", "additive", "no change", "held-out samples"]
    lines = [
        "## `uge demo` over seeds",
        "",
        f"`python benchmarks/bench_demo_seeds.py --seeds {' '.join(map(str, args.seeds))}`: "
        "each seed a new simulated study (500 mouse + 500 rat samples) and model; rat x "
        "tetracycline held out. R² is the median over the organs that respond to "
        "tetracycline of the squared Pearson correlation between predicted and true rat "
        "group means (log1p CP10k, all rat genes); 'held-out samples' is the mean of the "
        "held-out samples themselves. DEG R²: the same over each organ's top 100 DEGs, "
        "median over responding organs. Rewired genes mapped: share of rewired mouse genes "
        "whose functional rat partner is `model.map_genes`' first choice.",
        "",
        "| seed | "
        + " | ".join(f"R² {m}" for m in methods)
        + " | UGE beats both baselines | DEG R² UGE / additive | UGE beats additive on DEGs "
        "| rewired genes mapped (top-1) | organ accuracy (chance) | train s |",
        "| ---: | "
        + " | ".join("---:" for _ in methods)
        + " | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            report = run(Path(tmp), quick=False, seed=seed, progress=False)
        p, a = report["perturbation"], report["annotation"]["overall"]
        degs = {o: v for o, v in p["r2_degs"].items() if o in p["responding"]}
        wins = sum(v["UGE"] > v["additive"] for v in degs.values())
        med = {m: float(np.median([v[m] for v in degs.values()])) for m in ("UGE", "additive")}
        rewired = report["gene_mapping"]["top1"]["rewired"]
        row = (
            f"| {seed} | "
            + " | ".join(f"{p['median_r2_responding'][m]:.3f}" for m in methods)
            + f" | {p['uge_beats_both_baselines']} | {med['UGE']:.3f} / {med['additive']:.3f} "
            f"| {wins} of {len(degs)} | {rewired['UGE']:.3f} "
            f"(table {rewired['ortholog table']:.3f})"
            f" | {a['accuracy']:.3f} ({a['chance_accuracy']:.3f}) "
            f"| {report['train_seconds']:.0f} |"
        )
        print(row, flush=True)
        lines.append(row)
    write(args.out, lines)


if __name__ == "__main__":
    main()
