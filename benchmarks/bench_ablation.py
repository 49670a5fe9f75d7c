"""Ablation on real single cells: one change at a time against UGE's defaults.

Two tasks, the same seeds and split for every variant:

- Kang IFN-beta (:mod:`bench_kang`): a cell type's stimulated cells held out (CD4T;
  ``--cell-types`` for others), predicted by
  ``predict_perturbation``; R² over all genes / top-100 DEGs, for the decoded shifted
  latent and for the held-out type's control plus the decoded difference (shifted minus
  unshifted latent), and R² of the decoded control mean against the measured one (how
  well the decoder reproduces what it was given).
- Baron pancreas (:mod:`bench_annotation`): mouse -> human cell types, the human labels
  hidden; accuracy and macro-F1 of the classifier.

Variants change training (Adam's learning rate and epsilon), tokens (how many, and how a
cell ranks its candidate genes: by expression or relative to each gene's usual level,
Geneformer's ranking) and the likelihood's scale. Usage: ``python
benchmarks/bench_ablation.py --data-dir ../shared/data --seeds 0``; ``--tasks kang`` or
``baron`` runs one task.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
import scanpy as sc
import scvi
from _harness import RESULTS, command, section, seeded, write
from bench_annotation import UNKNOWN, uge_rows
from bench_kang import Case

import uge

FORMER = {"plan_kwargs": {"lr": 1e-2, "eps": 1e-2}}
#: name -> (model keyword arguments, train keyword arguments, tasks)
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any], tuple[str, ...]]] = {
    "defaults (Adam lr 1e-3, eps 1e-8; 128 tokens by expression)": ({}, {}, ("kang", "baron")),
    "former optimiser: lr 1e-2, eps 1e-2 (scvi-tools' eps)": ({}, FORMER, ("kang", "baron")),
    "lr 1e-2, eps 1e-8": ({}, {"plan_kwargs": {"lr": 1e-2}}, ("kang",)),
    "lr 1e-3, eps 1e-2": ({}, {"plan_kwargs": {"eps": 1e-2}}, ("kang",)),
    "512 tokens": ({"max_tokens": 512}, {}, ("kang",)),
    "2,000 HVG candidates, 128 tokens by expression": ({"hvg": 2000}, {}, ("kang",)),
    "2,000 HVG candidates, 128 tokens by relative value": (
        {"hvg": 2000, "token_ranking": "relative"},
        {},
        ("kang",),
    ),
    "tokens by relative value": ({"token_ranking": "relative"}, {}, ("baron",)),
    "latent alignment weight 1 (default 0.1)": ({"latent_align_weight": 1.0}, {}, ("baron",)),
    "no latent alignment (weight 0)": ({"latent_align_weight": 0.0}, {}, ("baron",)),
    "classification weight 10 (default 1)": ({"classification_weight": 10.0}, {}, ("baron",)),
    "dropout 0.1": ({"dropout": 0.1}, {}, ("baron",)),
    "Gaussian with one fixed scale (MSE) instead of per-gene scales": (
        {"fixed_scale": True},
        {},
        ("kang",),
    ),
}
KANG_TYPES = ("CD4T",)


def kang_row(case: Case, seed: int, epochs: int, model_kwargs: dict, train_kwargs: dict):
    """One variant on one Kang case: its R² pairs and the reconstruction R²."""
    kwargs = dict(model_kwargs)
    train = case.train
    if kwargs.pop("hvg", None):
        case.train = train.copy()
        sc.pp.highly_variable_genes(case.train, n_top_genes=2000)
    fixed = kwargs.pop("fixed_scale", False)
    scvi.settings.seed = seed
    try:
        out = case.uge(epochs, train_kwargs, fixed_scale=fixed, **kwargs)
    finally:
        case.train = train
    return out


def kang_rows(args: argparse.Namespace) -> list[tuple]:
    """The Kang table's rows: variant, held-out type, three scores."""
    kang = uge.datasets.load_kang(args.data_dir)
    rows = []
    for held_out in args.cell_types:
        case = Case(kang, held_out)
        base = case.baselines()
        for name in ("no change", "additive, pooled shift"):
            rows.append((name, held_out, fmt([base[name]]), "-", "-"))
        for name, (model_kwargs, train_kwargs, tasks) in VARIANTS.items():
            if "kang" not in tasks:
                continue
            runs = [
                kang_row(case, seed, args.epochs, model_kwargs, train_kwargs)
                for seed in seeded(args.seeds)
            ]
            rows.append(
                (
                    name,
                    held_out,
                    fmt([r["UGE"] for r in runs]),
                    fmt([r["UGE, control + decoded difference"] for r in runs]),
                    fmt([r["reconstruction"] for r in runs]),
                )
            )
            print(rows[-1], flush=True)
    return rows


def baron_rows(args: argparse.Namespace) -> list[tuple]:
    """The Baron table's rows: variant, accuracy, macro-F1 (classifier, mouse -> human)."""
    full = uge.datasets.load_baron(args.data_dir)
    truth = full.obs["cell_type"].astype(str)
    ref = truth.where(full.obs["species"] == "mouse", UNKNOWN)
    rows = []
    for name, (model_kwargs, train_kwargs, tasks) in VARIANTS.items():
        if "baron" not in tasks:
            continue
        runs = [
            uge_rows(full, ref, "human", truth, seed, None, "", train_kwargs, **model_kwargs)[0]
            for seed in seeded(args.seeds)
        ]
        rows.append((name, fmt([r[1:3] for r in runs]), f"{np.mean([r[3] for r in runs]):.0f}"))
        print(rows[-1], flush=True)
    return rows


def fmt(values: list) -> str:
    """Mean over seeds of a tuple of scores (the first's range when several seeds)."""
    arr = np.asarray(values, dtype=float)
    text = " / ".join(f"{m:.3f}" for m in arr.mean(0))
    return text + (f" ({arr[:, 0].min():.3f}-{arr[:, 0].max():.3f})" if len(arr) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=30, help="Kang epochs")
    parser.add_argument("--tasks", nargs="+", default=["kang", "baron"])
    parser.add_argument("--cell-types", nargs="+", default=list(KANG_TYPES))
    parser.add_argument("--out", default=str(RESULTS / "ablation.md"))
    args = parser.parse_args()
    seeds = ", ".join(map(str, args.seeds))
    lines = []
    if "kang" in args.tasks:
        text = (
            f"{command(__file__, *sys.argv[1:])}: Kang, one cell type's stimulated cells "
            f"held out, {args.epochs} epochs, seeds {seeds} (mean; range of the first score "
            "over seeds in brackets). Predicted: R² over all genes / top-100 DEGs of the "
            "decoded shifted latent and of control + decoded difference; reconstruction: R² "
            "of the decoded mean of the held-out type's control cells against their measured "
            "mean."
        )
        header = "variant | held out | predicted | control + decoded difference | reconstruction"
        lines += [*section("Ablation, Kang IFN-beta", text, header, "lllll", kang_rows(args)), ""]
    if "baron" in args.tasks:
        text = (
            f"{command(__file__, *sys.argv[1:])}: Baron pancreas, mouse -> human, the human "
            f"cell types hidden, default epochs, seeds {seeds}; UGE's classifier."
        )
        header = "variant | accuracy / macro-F1 | train s"
        lines += section("Ablation, Baron pancreas", text, header, "llr", baron_rows(args))
    write(args.out, lines)


if __name__ == "__main__":
    main()
