"""Cross-species cell-type annotation on Baron pancreas, UGE beside scANVI and PCA + kNN.

One direction at a time (mouse -> human, human -> mouse): the target species' cell types
are hidden (``unlabeled_category``) from every method, which all see the same cells and
genes (:func:`uge.datasets.load_baron`, 2,000 HVG per species plus their one-to-one
partners). UGE: default parameters with the ortholog prior, the classifier trained on the
source's labels, scored by its classifier and by kNN in ``X_uge``. scANVI: scVI then
scANVI (scvi-tools defaults, species as batch) on the one-to-one orthologs. PCA: 50
components of log-normalised orthologs, 15-NN. Usage:
``python benchmarks/bench_annotation.py --data-dir ../shared/data``; ``--max-tokens 256
512`` runs UGE once per token count (``--methods uge`` for UGE alone).
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
import scvi
from _harness import RESULTS, command, section, setup_model, train, write
from sklearn.metrics import f1_score
from sklearn.neighbors import KNeighborsClassifier

import uge

UNKNOWN = "Unknown"
DEFAULT_TOKENS = inspect.signature(uge.UGE).parameters["max_tokens"].default


def scores(truth: pd.Series, pred: pd.Series) -> tuple[float, float]:
    truth, pred = truth.astype(str), pred.astype(str)
    return float((truth == pred).mean()), float(
        f1_score(truth, pred, average="macro", labels=sorted(set(truth)))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", default=RESULTS / "annotation.md")
    parser.add_argument(
        "--methods", nargs="+", default=["uge", "scanvi", "pca"], help="uge, scanvi, pca"
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        nargs="+",
        default=[DEFAULT_TOKENS],
        help="UGE's max_tokens, one run each",
    )
    args = parser.parse_args()
    full = uge.datasets.load_baron(args.data_dir)
    ortho = uge.pp.ortholog_matrix(full)
    rows = []
    for source, target in (("mouse", "human"), ("human", "mouse")):
        truth = full.obs["cell_type"].astype(str)
        ref = truth.where(full.obs["species"] == source, UNKNOWN)
        results: dict[str, list[tuple[float, float, float]]] = {}
        for seed in args.seeds:
            runs = []
            if "uge" in args.methods:
                for max_tokens in args.max_tokens:
                    tokens = "" if max_tokens == DEFAULT_TOKENS else f", {max_tokens} tokens"
                    runs += uge_rows(
                        full, ref, target, truth, seed, args.epochs, tokens, max_tokens=max_tokens
                    )
            if "scanvi" in args.methods:
                runs += scanvi_rows(ortho, ref, target, truth, seed)
            if "pca" in args.methods and seed == args.seeds[0]:
                runs += pca_rows(ortho, source, truth)
            for name, acc, f1, took in runs:
                results.setdefault(name, []).append((acc, f1, took))
                print(source, target, seed, name, acc, f1, flush=True)
        for name, values in results.items():
            rows.append((f"{source} -> {target}", name, *fmt(values)))
    text = (
        f"{command(__file__, *sys.argv[1:])}: {full.n_obs} cells "
        f"({(full.obs['species'] == 'human').sum()} human, "
        f"{(full.obs['species'] == 'mouse').sum()} mouse), {full.n_vars} genes, "
        f"{len(full.uns['orthologs'])} one-to-one ortholog pairs; the target's cell types "
        "are hidden from every method. Accuracy and macro-F1 over the target's cells "
        f"(macro over the target's cell types), mean over seeds {', '.join(map(str, args.seeds))} "
        "(range in brackets; PCA has no seed)."
    )
    header = "direction | method | accuracy | macro-F1 | train s"
    title = "Cross-species cell-type annotation, Baron pancreas"
    write(args.out, section(title, text, header, "llrrr", rows))


def fmt(values: list[tuple[float, float, float]]) -> tuple[str, str, str]:
    """Mean accuracy, macro-F1 (ranges in brackets when several seeds) and seconds."""
    arr = np.asarray(values)
    cells = [f"{m:.3f}" for m in arr.mean(0)[:2]]
    if len(arr) > 1:
        cells = [f"{c} ({arr[:, i].min():.3f}-{arr[:, i].max():.3f})" for i, c in enumerate(cells)]
    return cells[0], cells[1], f"{arr[:, 2].mean():.0f}"


def uge_rows(
    full: ad.AnnData,
    ref: pd.Series,
    target: str,
    truth: pd.Series,
    seed: int,
    epochs: int | None,
    suffix: str = "",
    train_kwargs: dict | None = None,
    **model_kwargs: Any,
) -> list[tuple]:
    """UGE trained on the source's labels (``ref``), scored by its classifier and by kNN.

    Rows are named ``UGE (method{suffix})``; ``train_kwargs`` go to ``model.train`` and
    ``model_kwargs`` to :class:`uge.UGE`.
    """
    rows = []
    scvi.settings.seed = seed
    adata = full.copy()
    adata.obs["cell_type_ref"] = ref.to_numpy()
    source = next(s for s in adata.obs["species"].cat.categories if s != target)
    model = setup_model(
        adata,
        adata.uns["orthologs"],
        labels_key="cell_type_ref",
        condition_key=None,
        unlabeled_category=UNKNOWN,
        **model_kwargs,
    )
    took = train(model, epochs, **(train_kwargs or {}))
    for method in ("classifier", "knn"):
        pred = model.predict_labels(source, target, method=method)["prediction"]
        rows.append((f"UGE ({method}{suffix})", *scores(truth[pred.index], pred), took))
    return rows


def scanvi_rows(
    ortho: ad.AnnData, ref: pd.Series, target: str, truth: pd.Series, seed: int
) -> list[tuple]:
    """scVI then scANVI on the one-to-one orthologs, species as batch."""
    scvi.settings.seed = seed
    o = ortho.copy()
    o.obs["cell_type_ref"] = ref[o.obs_names].to_numpy()
    scvi.model.SCVI.setup_anndata(o, batch_key="species", labels_key="cell_type_ref")
    start = time.perf_counter()
    vae = scvi.model.SCVI(o)
    train(vae)
    scanvi = scvi.model.SCANVI.from_scvi_model(vae, unlabeled_category=UNKNOWN)
    train(scanvi, 20)
    took = time.perf_counter() - start
    tgt = (o.obs["species"] == target).to_numpy()
    pred = pd.Series(scanvi.predict(o[tgt]), index=o.obs_names[tgt])
    return [("scANVI (orthologs)", *scores(truth[pred.index], pred), took)]


def pca_rows(ortho: ad.AnnData, source: str, truth: pd.Series) -> list[tuple]:
    """50 PCs of log-normalised orthologs, 15-NN from the source."""
    p = ortho.copy()
    sc.pp.normalize_total(p, target_sum=1e4)
    sc.pp.log1p(p)
    sc.pp.pca(p, n_comps=50)
    src = (p.obs["species"] == source).to_numpy()
    knn = KNeighborsClassifier(15).fit(p.obsm["X_pca"][src], truth[p.obs_names[src]])
    pred = pd.Series(knn.predict(p.obsm["X_pca"][~src]), index=p.obs_names[~src])
    return [("PCA + 15-NN (orthologs)", *scores(truth[pred.index], pred), 0.0)]


if __name__ == "__main__":
    main()
