"""The ``uge demo`` experiment over several seeds: how stable are its numbers?

Each seed simulates a new study and trains a new model (``uge demo --seed N``), holds out
rat x tetracycline, and records the median R² over responding organs of UGE and the
baselines, in how many responding organs UGE beats both baselines, and the organ
annotation accuracy of rat samples. Usage: ``python benchmarks/bench_demo_seeds.py``.

Where UGE's gain is bounded by gene correspondence, two more rows show it without
training: the additive baseline (rat control + mouse shift, gene by gene) carried through
the gene pairs UGE aligns (ortholog prior plus reactome matches, as the demo's model
builds them) and through the simulator's true functional map (an oracle).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from _harness import RESULTS, command, section, write

import uge
from uge._demo import CONDITION, SOURCE, TARGET, _rows, run


def _table(source: Sequence[str], target: Sequence[str]) -> pd.DataFrame:
    """An ortholog table (bare gene names, one column per species) from prefixed names."""
    bare = {
        sp: pd.Series(v, dtype=str).str.split(":", n=1).str[1]
        for sp, v in ((SOURCE, source), (TARGET, target))
    }
    return pd.DataFrame({sp: v.to_numpy() for sp, v in bare.items()})


def correspondence(seed: int) -> dict:
    """Median R² of the additive prediction through UGE's gene pairs and the true map."""
    study = uge.datasets.simulate_study(
        n_samples_per_species=500, n_genes=1000, seed=seed
    )  # the demo's
    truth, orthologs = study.uns.pop("uge_truth"), study.uns.pop("orthologs")
    held = ((study.obs["species"] == TARGET) & (study.obs["drug"] == CONDITION)).to_numpy()
    train = study[~held].copy()
    uge.UGE.setup_anndata(train, labels_key="organ", condition_key="drug")
    gene = uge.UGE(train, orthologs=orthologs).module.embedding.gene  # pairs as built, untrained
    a, b = train.var_names[gene.src.numpy()], train.var_names[gene.dst.numpy()]
    first = a.str.startswith(f"{SOURCE}:")
    fmap = truth["functional_map"]
    tables = {
        "UGE's aligned pairs": _table(np.where(first, a, b), np.where(first, b, a)),
        "true functional map": _table(fmap["source_gene"], fmap["target_gene"]),
    }
    genes = study.var_names[study.var["species"] == TARGET]
    organs = list(study.obs["organ"].cat.categories)
    observed, control = (
        _rows(truth["group_means"], [f"{TARGET}|{o}|{c}" for o in organs], organs, genes)
        for c in (CONDITION, "control")
    )
    responding = [o for o in organs if truth["responding"].loc[o, CONDITION]]
    out = {}
    for name, table in tables.items():
        pred = uge.tl.perturbation_baselines(
            train, CONDITION, SOURCE, TARGET, table, condition_key="drug", labels_key="organ"
        )["additive"]
        r = uge.tl.perturbation_r2(
            pred.loc[responding], observed.loc[responding], 100, control.loc[responding]
        )
        out[name] = (float(r["r2"].median()), float(r["r2_degs"].median()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=RESULTS / "demo_seeds.md")
    args = parser.parse_args()
    methods = ["UGE", "UGE, condition token", "additive", "no change", "held-out samples"]
    rows, ceiling = [], []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
            report = run(Path(tmp), quick=False, seed=seed, progress=False)
        p, a = report["perturbation"], report["annotation"]["overall"]
        degs = {o: v for o, v in p["r2_degs"].items() if o in p["responding"]}
        wins = sum(v["UGE"] > v["additive"] for v in degs.values())
        med = {m: float(np.median([v[m] for v in degs.values()])) for m in ("UGE", "additive")}
        rewired = report["gene_mapping"]["top1"]["rewired"]
        rows.append(
            (
                seed,
                *(f"{p['median_r2_responding'][m]:.3f}" for m in methods),
                p["uge_beats_both_baselines"],
                f"{med['UGE']:.3f} / {med['additive']:.3f}",
                f"{wins} of {len(degs)}",
                f"{rewired['UGE']:.3f} (table {rewired['ortholog table']:.3f})",
                f"{a['accuracy']:.3f} ({a['chance_accuracy']:.3f})",
                f"{report['train_seconds']:.0f}",
            )
        )
        print(rows[-1], flush=True)
        c = correspondence(seed)
        add = (p["median_r2_responding"]["additive"], med["additive"])
        ceiling.append(
            (seed, f"{add[0]:.3f} ({add[1]:.3f})", *(f"{r:.3f} ({d:.3f})" for r, d in c.values()))
        )
        print(ceiling[-1], flush=True)
    text = (
        f"{command(__file__, '--seeds', *args.seeds)}: "
        "each seed a new simulated study (500 mouse + 500 rat samples) and model; rat x "
        "tetracycline held out. R² is the median over the organs that respond to "
        "tetracycline of the squared Pearson correlation between predicted and true rat "
        "group means (log1p CP10k, all rat genes); 'held-out samples' is the mean of the "
        "held-out samples themselves. DEG R²: the same over each organ's top 100 DEGs, "
        "median over responding organs. Rewired genes mapped: share of rewired mouse genes "
        "whose functional rat partner is `model.map_genes`' first choice."
    )
    header = [
        "seed",
        *(f"R² {m}" for m in methods),
        "UGE beats both baselines",
        "DEG R² UGE / additive",
        "UGE beats additive on DEGs",
        "rewired genes mapped (top-1)",
        "organ accuracy (chance)",
        "train s",
    ]
    lines = section("`uge demo` over seeds", text, header, "r" * len(header), rows)
    text = (
        "Additive prediction (rat control + mouse shift, gene by gene) through other gene "
        "correspondences, same split, no training: median R² (DEG R²) over responding organs."
    )
    header = (
        "seed | ortholog table (the additive baseline) | UGE's aligned pairs "
        "| true functional map (oracle)"
    )
    lines += ["", *section(None, text, header, "rrrr", ceiling)]
    write(args.out, lines)


if __name__ == "__main__":
    main()
