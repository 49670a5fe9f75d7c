"""Organ annotation across many species on real bulk data (Brawand et al. 2011).

For each set of species, one UGE model is trained on all of them with the organ labels of
the source species only (the others' are registered as unlabelled and never reach the
model), and each other species' organs are transferred from the source
(``model.predict_labels``, its classifier). Baseline on the same
samples: 1-NN on log-CPM of the one-to-one orthologs (source samples as reference),
no training. Usage:
``python benchmarks/bench_species.py --data-dir ../shared/data``.
"""

from __future__ import annotations

import argparse

import anndata as ad
import numpy as np
import pandas as pd
from _harness import RESULTS, command, section, seeded, setup_model, train, write
from sklearn.neighbors import KNeighborsClassifier

import uge

SETS = {
    2: ["mouse", "human"],
    3: ["mouse", "human", "opossum"],
    4: ["mouse", "human", "opossum", "chicken"],
    5: ["mouse", "human", "opossum", "chicken", "platypus"],
}


def ortholog_1nn(adata: ad.AnnData, source: str, target: str) -> float:
    """Accuracy of 1-NN on log-CPM of the one-to-one orthologs (source as reference)."""
    o = uge.pp.ortholog_matrix(adata, species=[source, target])
    x = np.asarray(o.X, dtype=np.float64)
    x = np.log1p(x / x.sum(1, keepdims=True) * 1e6)
    organ = o.obs["organ"].astype(str).to_numpy()
    src = (o.obs["species"] == source).to_numpy()
    tgt = (o.obs["species"] == target).to_numpy()
    knn = KNeighborsClassifier(1).fit(x[src], organ[src])
    return float((knn.predict(x[tgt]) == organ[tgt]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 3, 4, 5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--source", default="mouse")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", default=RESULTS / "species.md")
    args = parser.parse_args()
    rows = []
    results = []
    for size in args.sizes:
        species = SETS[size]
        full = uge.datasets.load_brawand(args.data_dir, species=species)
        for seed in seeded(args.seeds):
            adata = full.copy()
            # only the source's organs are given: the others' never reach the model
            source = adata.obs["species"] == args.source
            adata.obs["organ_ref"] = adata.obs["organ"].astype(str).where(source, "Unknown")
            model = setup_model(
                adata,
                adata.uns["orthologs"],
                labels_key="organ_ref",
                condition_key=None,
                unlabeled_category="Unknown",
            )
            took = train(model, args.epochs)
            for target in species:
                if target == args.source:
                    continue
                pred = model.predict_labels(args.source, target)
                truth = adata.obs.loc[pred.index, "organ"].astype(str)
                acc = float((pred["prediction"].astype(str) == truth).mean())
                base = ortholog_1nn(adata, args.source, target)
                results.append((size, target, acc, base))
                rows.append((size, seed, target, f"{acc:.3f}", f"{base:.3f}", f"{took:.0f}"))
                print(rows[-1], flush=True)
    frame = pd.DataFrame(results, columns=["size", "target", "uge", "base"])
    mean = frame.groupby(["size", "target"], sort=False).agg(
        uge=("uge", "mean"), low=("uge", "min"), base=("base", "mean"), n=("uge", "size")
    )
    cmd = command(__file__, "--sizes", *args.sizes, "--seeds", *args.seeds)
    text = (
        f"{cmd}: one model per species set and seed, "
        f"default parameters, the full one-to-one ortholog table as prior; organs of each "
        f"species transferred from {args.source} (`predict_labels`). Baseline: 1-NN on log-CPM "
        "of one-to-one orthologs, same samples."
    )
    header = "species in model | seed | target | UGE accuracy | 1-NN orthologs | train s"
    title = "Organ annotation with many species in one model (Brawand bulk RNA-seq)"
    lines = section(title, text, header, "rrlrrr", rows)
    rows = [
        (size, target, f"{r.uge:.3f} ({r.low:.3f})", f"{r.base:.3f}", r.n)
        for (size, target), r in mean.iterrows()
    ]
    header = "species in model | target | UGE accuracy | 1-NN orthologs | seeds"
    lines += [
        "",
        *section(None, "Mean over seeds (lowest seed in brackets):", header, "rlrrr", rows),
    ]
    write(args.out, lines)


if __name__ == "__main__":
    main()
