"""In-silico knockout of organ programs on the simulator, against random gene sets.

Per seed a default ``simulate_study`` and a UGE model trained on it (defaults). For each
organ, its program is the 20 mouse genes whose true control expression (simulator truth,
``group_means``) is highest above their mean over the other organs. The program is knocked
out (``model.in_silico_perturb``) in the mouse control samples of the organ, and the
movement away from the organ is the mean increase of the samples' latent distance to the
organ's centroid (mean latent of the mouse control samples of the organ). Null: 50
random sets of 20 mouse genes with matched mean expression (each program gene replaced
by a random gene of the same expression decile). Empirical p-value
``(1 + #random >= program) / 51`` per organ, Benjamini-Hochberg FDR over organs.
Usage: ``python benchmarks/bench_insilico.py [--seeds 0 1]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _harness import RESULTS, command, section, setup_model, simulate, train, write
from scipy.stats import false_discovery_control

import uge
from uge.core import log_normalise

N_GENES = 20
N_RANDOM = 50


def away(model: uge.UGE, genes: list[str], cells: np.ndarray, centre: np.ndarray) -> float:
    """Mean increase of the samples' latent distance to ``centre`` when ``genes`` are off."""
    out = model.in_silico_perturb(genes, "knockout", indices=cells)
    d0 = np.linalg.norm(out.obsm["X_uge"] - centre, axis=1)
    d1 = np.linalg.norm(out.obsm["X_uge_perturbed"] - centre, axis=1)
    return float(np.mean(d1 - d0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", default=RESULTS / "insilico.md")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        adata = simulate(seed)
        means = adata.uns.pop("uge_truth")["group_means"]
        model = setup_model(adata, adata.uns["orthologs"])
        train(model, args.epochs)
        z = model.get_latent_representation()
        obs = adata.obs
        mouse_genes = adata.var_names[adata.var["species"] == "mouse"]
        is_mouse = (obs["species"] == "mouse").to_numpy()
        level = np.asarray(log_normalise(adata[is_mouse][:, mouse_genes].X, True).mean(0))
        decile = pd.Series(
            np.searchsorted(np.quantile(level.ravel(), np.linspace(0, 1, 11)[1:-1]), level.ravel()),
            index=mouse_genes,
        )
        rng = np.random.default_rng(seed)
        organs = sorted(obs["organ"].astype(str).unique())
        control = means.loc[[f"mouse|{o}|control" for o in organs], mouse_genes]
        control.index = organs
        start = time.perf_counter()
        for organ in organs:
            others = control.drop(index=organ).mean(0)
            program = list(
                (control.loc[organ] - others).sort_values(ascending=False).index[:N_GENES]
            )
            cells = np.flatnonzero(
                (is_mouse & (obs["organ"] == organ) & (obs["drug"] == "control")).to_numpy()
            )
            centre = z[cells].mean(0)

            observed = away(model, program, cells, centre)
            null = []
            for _ in range(N_RANDOM):
                genes = [
                    rng.choice(decile.index[(decile == decile[g]).to_numpy()]) for g in program
                ]
                null.append(away(model, list(dict.fromkeys(genes)), cells, centre))
            null = np.asarray(null)
            rows.append(
                {
                    "seed": seed,
                    "organ": organ,
                    "program": observed,
                    "random_mean": null.mean(),
                    "random_95": np.quantile(null, 0.95),
                    "p": (1 + (null >= observed).sum()) / (1 + len(null)),
                }
            )
            print(rows[-1], flush=True)
        took = time.perf_counter() - start
        print(f"seed {seed}: {took:.0f} s for {len(organs)} organs", flush=True)
    frame = pd.DataFrame(rows)
    frame["fdr"] = false_discovery_control(frame["p"].to_numpy())
    text = (
        f"{command(__file__, '--seeds', *args.seeds)}: per organ, its {N_GENES}-gene "
        "program knocked out in mouse control samples of the "
        "organ; movement away from the organ's latent centroid against "
        f"{N_RANDOM} expression-matched random sets. FDR: Benjamini-Hochberg over all rows."
    )
    header = "seed | organ | program: distance increase | random: mean | random: 95th pct | p | FDR"
    values = ("program", "random_mean", "random_95", "p", "fdr")
    rows = [
        (r.seed, r.organ, *(f"{getattr(r, v):.3f}" for v in values)) for r in frame.itertuples()
    ]
    title = "In-silico knockout of organ programs (simulator)"
    lines = section(title, text, header, "rlrrrrr", rows)
    lines += [
        "",
        f"Programs beyond every random set: {(frame['p'] <= 1 / (1 + N_RANDOM)).sum()} of "
        f"{len(frame)}; FDR < 0.05: {(frame['fdr'] < 0.05).sum()} of {len(frame)}.",
    ]
    write(args.out, lines)


if __name__ == "__main__":
    main()
