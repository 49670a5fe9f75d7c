"""Reactome prediction: held-out (organ, drug) responses, UGE beside its baselines.

Two studies (``--study simulated|drugmatrix|all``):

``simulated``: the default ``simulate_study`` per seed; three responding (organ, drug)
combinations (distinct organs and drugs) are held out in rat, and their rat reactome is
predicted: by the trained model (``model.predict_reactome``, latent arithmetic with
mouse's shift), the mouse ortholog's measured response (``uge.tl.reactome``), rat's mean
over the other drugs in the organ, rat's mean over the other organs under the drug, and
the factorisation ``uge.tl.predict_reactome`` of the measured reactome of both species
(rank 10). Truth: the simulator's rat reactome. Scores over rat genes: Pearson r, and
DEG AUC (telling genes with a true change beyond 0.5 from the rest by the size of the
predicted change).

``drugmatrix``: each drug's kidney signature is hidden in turn and predicted from all
liver signatures and the other drugs' kidney signatures
(:func:`uge.datasets.load_drugmatrix`: 39 drugs, 15,248 genes, normal scores of published
ranks). Methods, all on the same table:

- ``uge.tl.predict_reactome``: the gene x organ x drug factorisation, at several ranks
  (default ridge 0.1) and once strongly regularised (ridge 3); and
  ``method="neighbours"``: the mean of the other drugs' kidney signatures plus the drugs
  most like the held-out one in liver, and each gene's liver response carried into
  kidney by its liver-kidney regression over the other drugs;
- mean of the other drugs' kidney signatures;
- the same drug's liver signature;
- low-rank matrix completion (iterative SVD, as in soft-impute without shrinkage) of the
  unfolded (organ, gene) x drug matrix, where the hidden kidney column of a drug has
  that drug's liver rows observed.

Scores per held-out drug: Spearman r with the true signature (also per drug, in a second
table); overlap of the predicted
and true top-200 DEGs (the 100 most up- and 100 most down-regulated genes, each side
matched with its sign); DEG AUC (ranking the true 100 up-DEGs by the prediction and the
100 down-DEGs by its negative, mean of both). Usage:
``python benchmarks/bench_reactome.py --data-dir ../shared/data [--study ...]``.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from _harness import RESULTS, command, section, setup_model, simulate, train, write
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

import uge

N_DEG = 100  # per side


def svd_complete(x: np.ndarray, rank: int, n_iter: int = 100) -> np.ndarray:
    """Fill NaNs of ``x`` by iterative rank-``rank`` SVD, starting from column means."""
    missing = np.isnan(x)
    filled = np.where(missing, np.nanmean(x, axis=0, keepdims=True), x)
    for _ in range(n_iter):
        u, s, vt = np.linalg.svd(filled, full_matrices=False)
        approx = (u[:, :rank] * s[:rank]) @ vt[:rank]
        filled = np.where(missing, approx, x)
    return filled


def scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    order = np.argsort(true)
    up, down = order[-N_DEG:], order[:N_DEG]
    p_order = np.argsort(pred)
    overlap = len(set(up) & set(p_order[-N_DEG:])) + len(set(down) & set(p_order[:N_DEG]))
    is_up = np.zeros(len(true), bool)
    is_up[up] = True
    is_down = np.zeros(len(true), bool)
    is_down[down] = True
    auc = (roc_auc_score(is_up, pred) + roc_auc_score(is_down, -pred)) / 2
    return {
        "spearman": float(spearmanr(pred, true).statistic),
        "deg_overlap": overlap / (2 * N_DEG),
        "deg_auc": float(auc),
    }


def simulated(seeds: list[int], epochs: int | None) -> list[str]:
    rows, took = [], []
    for seed in seeds:
        full = simulate(seed)
        truth = full.uns.pop("uge_truth")
        resp = truth["responding"]
        rng = np.random.default_rng(seed)
        combos, used_o, used_d = [], set(), set()
        for o, d in rng.permutation([(o, d) for o in resp.index for d in resp.columns]):
            if resp.loc[o, d] and o not in used_o and d not in used_d:
                combos.append((o, d))
                used_o.add(o)
                used_d.add(d)
        obs = full.obs
        held = np.zeros(full.n_obs, bool)
        for o, d in combos:
            held |= (
                (obs["species"] == "rat") & (obs["organ"] == o) & (obs["drug"] == d)
            ).to_numpy()
        adata = full[~held].copy()
        uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
        measured = uge.core.reactome_frame(adata, "uge_reactome")
        completed = uge.tl.predict_reactome(measured, rank=10)
        model = setup_model(adata, adata.uns["orthologs"])
        took.append(train(model, epochs))
        rat = adata.var_names[adata.var["species"] == "rat"]
        orth = adata.uns["orthologs"]
        mouse_of = pd.Series("mouse:" + orth["mouse"].to_numpy(), index="rat:" + orth["rat"])
        mouse_of = mouse_of[~mouse_of.index.duplicated()].reindex(rat)
        for o, d in combos:
            col = f"{o}|{d}"
            true = truth["reactome"].loc[rat, col].to_numpy()
            ours = model.predict_reactome("rat", labels=[o], conditions=[d])[col]
            ortholog = measured[col].reindex(mouse_of.to_numpy()).fillna(0.0).to_numpy()
            other_d = [f"{o}|{x}" for x in resp.columns if x != d]
            other_o = [f"{x}|{d}" for x in resp.index if x != o]
            preds = {
                "UGE (predict_reactome)": ours.to_numpy(),
                "mouse ortholog's response": ortholog,
                "mean of other drugs, same organ": measured.loc[rat, other_d].mean(1).to_numpy(),
                "same drug, mean of other organs": measured.loc[rat, other_o].mean(1).to_numpy(),
                "factorisation (uge.tl.predict_reactome)": completed.loc[rat, col].to_numpy(),
            }
            deg = np.abs(true) > 0.5
            for name, pred in preds.items():
                pred = np.nan_to_num(pred)
                rows.append(
                    {
                        "seed": seed,
                        "column": col,
                        "method": name,
                        "r": float(np.corrcoef(pred, true)[0, 1]),
                        "auc": float(roc_auc_score(deg, np.abs(pred))),
                    }
                )
            print(
                seed, col, {r["method"]: round(r["r"], 3) for r in rows[-len(preds) :]}, flush=True
            )
    frame = pd.DataFrame(rows)
    mean = frame.groupby("method", sort=False)[["r", "auc"]].agg(["mean", "min"])
    text = (
        f"{command(__file__, '--study', 'simulated', '--seeds', *seeds)}: per seed three "
        f"responding (organ, drug) combinations held out in rat ({len(frame) // 5} columns in "
        "all); truth: the simulator's rat reactome. Mean over columns (lowest in brackets); "
        f"DEG: true change beyond 0.5. UGE trained {np.mean(took):.0f} s per seed."
    )
    rows = [
        (
            m,
            f"{r[('r', 'mean')]:.3f} ({r[('r', 'min')]:.3f})",
            f"{r[('auc', 'mean')]:.3f} ({r[('auc', 'min')]:.3f})",
        )
        for m, r in mean.iterrows()
    ]
    title = "Reactome prediction on the simulator: held-out rat (organ, drug) columns"
    lines = section(title, text, "method | Pearson r | DEG AUC", "lrr", rows)
    print("\n".join(lines))
    return lines


NEIGHBOURS = "UGE neighbours (method='neighbours')"
MEAN, LIVER = "mean of other drugs (kidney)", "same drug, liver"


def drugmatrix(data_dir: str | None, ranks: list[int], n_drugs: int | None) -> list[str]:
    configs = [(r, 0.1) for r in ranks] + [(max(ranks), 3.0)]
    table = uge.datasets.load_drugmatrix(data_dir)
    all_drugs = [c.split("|")[1] for c in table.columns if c.startswith("kidney|")]
    drugs = all_drugs[:n_drugs] if n_drugs else all_drugs
    rows, seconds = [], {}
    for drug in drugs:
        held = f"kidney|{drug}"
        true = table[held].to_numpy()
        masked = table.copy()
        masked[held] = np.nan
        preds = {}
        for rank, ridge in configs:
            start = time.perf_counter()
            out = uge.tl.predict_reactome(
                masked, labels=["kidney"], conditions=[drug], rank=rank, ridge=ridge
            )
            name = f"UGE factorisation (rank {rank}, ridge {ridge:g})"
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
            preds[name] = out[held].to_numpy()
        start = time.perf_counter()
        out = uge.tl.predict_reactome(
            masked, labels=["kidney"], conditions=[drug], method="neighbours"
        )
        name = NEIGHBOURS
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
        preds[name] = out[held].to_numpy()
        others = [c for c in table.columns if c.startswith("kidney|") and c != held]
        preds[MEAN] = table[others].mean(1).to_numpy()
        preds[LIVER] = table[f"liver|{drug}"].to_numpy()
        # unfolded (organ, gene) x drug matrix: the drug's liver rows stay observed
        wide = np.vstack(
            [masked[[f"{o}|{d}" for d in all_drugs]].to_numpy() for o in ("liver", "kidney")]
        )
        col = all_drugs.index(drug)
        for rank in ranks:
            start = time.perf_counter()
            done = svd_complete(wide, rank)
            name = f"low-rank completion (rank {rank})"
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
            preds[name] = done[len(table) :, col]
        for name, pred in preds.items():
            rows.append({"drug": drug, "method": name, **scores(pred, true)})
        best = max((r for r in rows if r["drug"] == drug), key=lambda r: r["spearman"])
        print(drug, best["method"], round(best["spearman"], 3), flush=True)
    frame = pd.DataFrame(rows)
    mean = frame.groupby("method", sort=False)[["spearman", "deg_overlap", "deg_auc"]].mean()
    spearman = frame.pivot(index="drug", columns="method", values="spearman")
    wins = {m: int((spearman[m] > spearman[MEAN]).sum()) for m in mean.index}
    wins_liver = {m: int((spearman[m] > spearman[LIVER]).sum()) for m in mean.index}
    text = (
        f"{command(__file__, *sys.argv[1:])}: {table.shape[0]} genes, {len(drugs)} drugs; "
        "each drug's kidney signature hidden in turn and predicted from all liver "
        "signatures and the other drugs' kidney signatures. Mean over held-out drugs; "
        "DEGs: the 100 most up- and 100 most down-regulated genes of the true signature."
    )
    rows = []
    for m, r in mean.iterrows():
        s = seconds.get(m, 0.0) / len(drugs)
        cells = [f"{r[k]:.3f}" for k in ("spearman", "deg_overlap", "deg_auc")]
        n = len(drugs)
        rows.append((m, *cells, f"{wins[m]} / {n}", f"{wins_liver[m]} / {n}", f"{s:.2f}"))
    header = (
        "method | Spearman r | top-200 DEG overlap | DEG AUC | drugs above mean-of-other-drugs"
        " | drugs above same-drug-liver | s per drug"
    )
    title = "Reactome prediction: DrugMatrix kidney signatures from liver (rat)"
    lines = section(title, text, header, "lrrrrrr", rows)
    best = f"UGE factorisation (rank {max(ranks)}, ridge 3)"
    per = [NEIGHBOURS, best, MEAN, LIVER]
    per_rows = [(d, *(f"{spearman.loc[d, m]:.3f}" for m in per)) for d in drugs]
    lines += [
        "",
        *section(
            "DrugMatrix per drug: Spearman r of the held-out kidney signature",
            "The same run, per held-out drug.",
            " | ".join(["drug", *per]),
            "l" + "r" * len(per),
            per_rows,
        ),
    ]
    print("\n".join(lines))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", choices=["simulated", "drugmatrix", "all"], default="all")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--ranks", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--drugs", type=int, default=None, help="first N drugs only (a check)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    lines: list[str] = []
    if args.study in ("simulated", "all"):
        lines += [*simulated(args.seeds, args.epochs), ""]
    if args.study in ("drugmatrix", "all"):
        lines += drugmatrix(args.data_dir, args.ranks, args.drugs)
    name = "" if args.study == "all" else "_" + args.study
    write(args.out or RESULTS / f"reactome{name}.md", lines)


if __name__ == "__main__":
    main()
