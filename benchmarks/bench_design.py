"""Experiment suggestions: does measuring in the suggested order learn the reactome faster?

A simulated mouse study (``simulate_study``, 10 organs x 6 drugs, 500 samples) is measured
(``uge.tl.reactome``) and its columns are revealed one experiment, i.e. one (organ, drug)
combination, at a time. It starts from 10 combinations (each organ under one drug,
every drug at least once). After each experiment the reactome is estimated: measured
columns as measured, the others predicted by ``uge.tl.predict_reactome``; the error is
the squared error against the simulator's true reactome over all genes and columns,
relative to the truth's sum of squares. Orders compared, on the same study:

- ``suggested``: ``uge.tl.suggest_experiments(..., n=1)`` on what is measured so far;
- ``random``: a random order (mean over 5 draws);
- ``diversity``: the combination whose organ and drug have been measured least so far
  (no use of the measured values);
- ``permuted feedback``: suggestions computed from the measured columns shuffled among
  themselves (the values no longer belong to their organ and drug; the estimate itself
  uses the real values): suggestions that depend on what was measured lose their
  advantage here;
- ``oracle``: the combination whose current estimate is furthest from the truth (it
  knows what no experimenter knows): the best any error-seeking rule could do, and so
  the ceiling for suggestions of this kind on this design.

Reported per seed: the error after 1/6, 1/3, 1/2 and all of the 50 experiments, the
experiments each order needs to come within 10% of the error random order reaches after
all of them, and the share of the random -> oracle gap that the order closes: the area
between random order's error curve and the order's, over the whole budget, divided by
the area between random order's and the oracle's (0: no better than random, 1: as good
as the oracle, negative: worse than random). ``--shared-responsiveness S`` draws the study with
``simulate_study(shared_responsiveness=S)``: organs that respond to one drug tend to
respond to others, so what was measured says which unmeasured combinations respond.
Usage: ``python benchmarks/bench_design.py [--seeds 0 1 2] [--shared-responsiveness S]
[--out FILE]``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from _harness import RESULTS, command, section, write

import uge

DRUGS = ("tetracycline", "drug_a", "drug_b", "drug_c", "drug_d", "drug_e")


def estimate(measured: pd.DataFrame, known: list[str], rank: int) -> pd.DataFrame:
    table = measured.copy()
    table[[c for c in table.columns if c not in known]] = np.nan
    out = uge.tl.predict_reactome(table, rank=rank)[measured.columns]
    out[known] = measured[known]
    return out


def error(est: pd.DataFrame, truth: pd.DataFrame) -> float:
    return float(((est - truth) ** 2).to_numpy().sum() / (truth**2).to_numpy().sum())


def next_experiment(
    order: str,
    measured: pd.DataFrame,
    known: list[str],
    rng: np.random.Generator,
    rank: int,
    truth: pd.DataFrame,
    est: pd.DataFrame,
) -> str:
    """The next combination to measure; ``est`` is the current estimate (the oracle's
    guide)."""
    remaining = [c for c in measured.columns if c not in known]
    if order == "oracle":
        return str(((est[remaining] - truth[remaining]) ** 2).sum().idxmax())
    if order == "random":
        return remaining[rng.integers(len(remaining))]
    if order == "diversity":
        count = pd.Series([c.split("|")[0] for c in known]).value_counts()
        count_d = pd.Series([c.split("|")[1] for c in known]).value_counts()
        load = [count.get(c.split("|")[0], 0) + count_d.get(c.split("|")[1], 0) for c in remaining]
        best = np.flatnonzero(np.asarray(load) == min(load))
        return remaining[best[rng.integers(len(best))]]
    table = measured.copy()
    table[remaining] = np.nan
    if order == "permuted feedback":
        values = table[known].to_numpy()
        table[known] = values[:, rng.permutation(len(known))]
    top = uge.tl.suggest_experiments(table, n=1, rank=rank, seed=int(rng.integers(1 << 30)))
    return f"{top['label'].iloc[0]}|{top['condition'].iloc[0]}"


def run_order(
    order: str, measured: pd.DataFrame, truth: pd.DataFrame, start: list[str], rank: int, seed: int
) -> list[float]:
    """The error after each experiment when measuring in ``order``, from ``start``."""
    rng = np.random.default_rng(seed)
    known = list(start)
    est = estimate(measured, known, rank)
    errors = [error(est, truth)]
    while len(known) < measured.shape[1]:
        known.append(next_experiment(order, measured, known, rng, rank, truth, est))
        est = estimate(measured, known, rank)
        errors.append(error(est, truth))
    return errors


def gap_closed(curve: list[float], random: list[float], oracle: list[float]) -> float:
    """Share of the area between random order's and the oracle's error curves that
    ``curve`` closes (all three over the same experiments)."""
    gap = float(np.sum(np.subtract(random, oracle)))
    return float(np.sum(np.subtract(random, curve))) / gap if gap > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--shared-responsiveness", type=float, default=0.0)
    parser.add_argument("--out", default=RESULTS / "design.md")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        adata = uge.datasets.simulate_study(
            seed=seed, drugs=DRUGS, shared_responsiveness=args.shared_responsiveness
        )
        truth_all = adata.uns["uge_truth"]["reactome"]
        adata = adata[(adata.obs["species"] == "mouse").to_numpy()].copy()
        adata = adata[:, (adata.var["species"] == "mouse").to_numpy()].copy()
        uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
        measured = uge.core.reactome_frame(adata, "uge_reactome").fillna(0.0)
        truth = truth_all.loc[measured.index, measured.columns]
        organs = sorted({c.split("|")[0] for c in measured.columns})
        start = [f"{o}|{DRUGS[i % len(DRUGS)]}" for i, o in enumerate(organs)]
        curves = {}
        t0 = time.perf_counter()
        curves["suggested"] = run_order("suggested", measured, truth, start, args.rank, seed)
        took = time.perf_counter() - t0
        randoms = [
            run_order("random", measured, truth, start, args.rank, seed + 100 * k) for k in range(5)
        ]
        curves["random (mean of 5)"] = list(np.mean(randoms, axis=0))
        curves["diversity"] = run_order("diversity", measured, truth, start, args.rank, seed)
        curves["permuted feedback"] = run_order(
            "permuted feedback", measured, truth, start, args.rank, seed
        )
        curves["oracle (knows the truth)"] = run_order(
            "oracle", measured, truth, start, args.rank, seed
        )
        random, oracle = curves["random (mean of 5)"], curves["oracle (knows the truth)"]
        target = random[-1] * 1.1
        for name, curve in curves.items():
            reach = next((k for k, e in enumerate(curve) if e <= target), None)
            cells = [f"{curve[k]:.3f}" for k in (0, 8, 17, 25, len(curve) - 1)]
            gap = gap_closed(curve, random, oracle)
            rows.append((seed, name, *cells, reach, f"{gap:.2f}"))
            print(rows[-1], flush=True)
        print(f"seed {seed}: suggested order took {took:.0f} s", flush=True)
    text = (
        f"{command(__file__, *sys.argv[1:])}: "
        "mouse reactome of a simulated study with 10 organs x 6 drugs (60 combinations, "
        f"shared_responsiveness={args.shared_responsiveness:g}), "
        "10 measured at the start, then one experiment at a time. Error: squared error of "
        "the estimated reactome against the truth, relative to the truth's sum of squares "
        f"(factorisation rank {args.rank}). Columns 'after k': the error after k of the 50 "
        "experiments; 'to reach': experiments needed to come within 10% of the error "
        "random order reaches after all 50; 'gap closed': share of the area between "
        "random order's and the oracle's error curves that the order closes."
    )
    header = (
        "seed | order | start | after 8 | after 17 | after 25 | after 50 | to reach | gap closed"
    )
    title = "Experiment suggestions on the simulator"
    write(args.out, section(title, text, header, "rlrrrrrrr", rows))


if __name__ == "__main__":
    main()
