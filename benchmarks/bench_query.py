"""New genes and new species added to a trained model (``UGE.load_query_data``).

Two studies on the simulator, each run as a user would, baselines in the same run:

- ``genes``: the default ``simulate_study`` (500 mouse + 500 rat samples). A fifth of the
  rat genes are hidden from the reference model, and their ortholog pairs from its prior.
  The hidden genes are added by ``load_query_data`` from the rat samples (with and
  without their ortholog pairs), and mapped to mouse genes (``map_genes``), scored
  against the simulator's functional map. Compared with a model trained with all genes
  from the start on the same prior (the hidden genes are then trained with the
  reference but outside the prior), with direct reactome similarity
  (``uge.tl.map_genes_by_reactome``) and with random.
- ``species``: ``simulate_study(species=("mouse", "rat", "human"))``. The reference is
  trained on mouse (organ labels) and rat (unlabelled); human is added by
  ``load_query_data`` with the ortholog table, unlabelled, and its organs are predicted
  from mouse (the reference's classifier, and kNN on the latents of mouse and human
  together). Compared with one model trained on all three species from the start (human
  unlabelled) and with 1-NN on log-CPM of the mouse-human orthologs.

Usage: ``python benchmarks/bench_query.py [--study genes|species|all] [--seeds 0 1 2]``;
writes ``benchmarks/results/query.md``.
"""

from __future__ import annotations

import argparse

import anndata as ad
import numpy as np
import pandas as pd
from _harness import RESULTS, command, section, setup_model, simulate, train, write
from sklearn.neighbors import KNeighborsClassifier

import uge


def _fit(
    adata: ad.AnnData, orthologs: pd.DataFrame, epochs: int | None, **setup: str
) -> tuple[uge.UGE, float]:
    """A default UGE model of ``adata``, trained; and its training seconds."""
    model = setup_model(adata, orthologs, **setup)
    return model, train(model, epochs)


def genes(seeds: list[int], epochs: int | None) -> list[str]:
    rows = []
    for seed in seeds:
        full = simulate(seed)
        truth = full.uns.pop("uge_truth")
        orthologs = full.uns.pop("orthologs")
        rat = full.var_names[full.var["species"] == "rat"]
        hidden = np.random.default_rng(seed).choice(rat, size=len(rat) // 5, replace=False)
        names = {g.split(":", 1)[1] for g in hidden}
        prior = orthologs[~orthologs["rat"].isin(names)]
        fmap = truth["functional_map"]
        pairs = fmap[fmap["target_gene"].isin(hidden)].rename(
            columns={"source_gene": "target_gene", "target_gene": "source_gene"}
        )
        sources = list(pairs["source_gene"].unique())
        setup = {"labels_key": "organ", "condition_key": "drug"}
        maps, seconds = {}, {}
        joint, seconds["trained with the reference"] = _fit(full.copy(), prior, epochs, **setup)
        maps["trained with the reference (all genes from the start)"] = joint.map_genes(
            "rat", "mouse", genes=sources
        )
        reference, _ = _fit(full[:, ~full.var_names.isin(hidden)].copy(), prior, epochs, **setup)
        rat_samples = full[full.obs["species"] == "rat"].copy()
        for name, table in (("no orthologs", None), ("their ortholog pairs", orthologs)):
            query = uge.UGE.prepare_query_anndata(rat_samples, reference)
            model = uge.UGE.load_query_data(query, reference, orthologs=table)
            seconds[name] = train(model, epochs)
            maps[f"added by load_query_data, {name}"] = model.map_genes(
                "rat", "mouse", genes=sources
            )
        uge.tl.reactome(full, labels_key="organ", condition_key="drug")
        direct = uge.tl.map_genes_by_reactome(full, "rat", "mouse")
        maps["reactome similarity (direct)"] = direct[direct["source_gene"].isin(sources)]
        n_mouse = int((full.var["species"] == "mouse").sum())
        for name, mapping in maps.items():
            scores = uge.tl.evaluate_gene_mapping(mapping, pairs)
            for kind, r in scores.iterrows():
                rows.append({"seed": seed, "method": name, "kind": kind, **r.to_dict()})
            print(seed, name, scores[["top1", "top10"]].round(3).to_dict(), flush=True)
        rows.append(
            {
                "seed": seed,
                "method": "random",
                "kind": "overall",
                "n": len(pairs),
                "top1": 1 / n_mouse,
                "top10": 10 / n_mouse,
                "mrr": np.nan,
            }
        )
        print(seed, "train seconds", {k: round(v) for k, v in seconds.items()}, flush=True)
    frame = pd.DataFrame(rows)
    mean = frame.groupby(["method", "kind"], sort=False)[["n", "top1", "top10"]].mean()
    spread = frame.groupby(["method", "kind"], sort=False)["top10"].agg(["min", "max"])
    text = (
        f"{command(__file__, '--study', 'genes', '--seeds', *seeds)}:"
        " default `simulate_study` per seed; a fifth of the rat genes hidden from the "
        "reference (and their pairs from its ortholog prior); each hidden rat gene mapped to "
        "mouse genes, a hit when its functional partner (simulator truth) ranks within k. "
        "Mean over seeds (top-10 range in brackets); n: hidden genes with a partner."
    )
    rows = []
    for (method, kind), r in mean.iterrows():
        lo, hi = spread.loc[(method, kind)]
        top10 = f"{r['top10']:.3f} ({lo:.3f}-{hi:.3f})"
        rows.append((method, kind, f"{r['n']:.0f}", f"{r['top1']:.3f}", top10))
    header = "method | kind | n | top-1 | top-10"
    title = "New genes: rat genes hidden from the reference, then added"
    return section(title, text, header, "llrrr", rows)


def _ortholog_1nn(
    adata: ad.AnnData, orthologs: pd.DataFrame, source: str, target: str, label: str
) -> float:
    """Accuracy of 1-NN on log-CPM of the ``source``-``target`` orthologs."""
    table = orthologs[(orthologs[source] != "") & (orthologs[target] != "")]
    o = uge.pp.ortholog_matrix(adata, orthologs=table[[source, target]], species=[source, target])
    x = np.asarray(o.X.todense() if hasattr(o.X, "todense") else o.X, dtype=np.float64)
    x = np.log1p(x / x.sum(1, keepdims=True) * 1e6)
    y = o.obs[label].astype(str).to_numpy()
    src = (o.obs["species"] == source).to_numpy()
    knn = KNeighborsClassifier(1).fit(x[src], y[src])
    return float((knn.predict(x[~src]) == y[~src]).mean())


def species(seeds: list[int], epochs: int | None) -> list[str]:
    rows = []
    for seed in seeds:
        study = simulate(seed, species=("mouse", "rat", "human"))
        orthologs = study.uns.pop("orthologs")
        del study.uns["uge_truth"]
        organ = study.obs["organ"].astype(str)
        study.obs["label"] = organ.where(study.obs["species"] == "mouse", "unknown")
        setup = {
            "labels_key": "label",
            "condition_key": "drug",
            "unlabeled_category": "unknown",
        }
        is_human = (study.obs["species"] == "human").to_numpy()
        truth = organ[is_human]
        result = {}
        joint, t_joint = _fit(study.copy(), orthologs, epochs, **setup)
        pred = joint.predict_labels("mouse", "human")
        result["one model of all three species"] = (pred["prediction"] == truth).mean()
        mouse_rat = orthologs[orthologs["rat"] != ""][["mouse", "rat"]]
        ref_data = study[~is_human, study.var["species"] != "human"].copy()
        reference, t_ref = _fit(ref_data, mouse_rat, epochs, **setup)
        human = study[is_human, study.var["species"] == "human"].copy()
        query = uge.UGE.prepare_query_anndata(human, reference)
        model = uge.UGE.load_query_data(query, reference, orthologs=orthologs)
        t_query = train(model, epochs)
        pred = model.predict_labels("mouse", "human")
        result["added by load_query_data, reference's classifier"] = (
            pred["prediction"] == truth
        ).mean()
        mouse = uge.UGE.prepare_query_anndata(ref_data[ref_data.obs["species"] == "mouse"], model)
        both = ad.concat([mouse, query], merge="same")
        both.obs["organ"] = study.obs["organ"].astype(str).reindex(both.obs_names)
        pred = model.predict_labels("mouse", "human", labels_key="organ", adata=both, method="knn")
        result["added by load_query_data, 15-NN on mouse latents"] = (
            pred["prediction"] == truth.reindex(pred.index)
        ).mean()
        result["1-NN on ortholog log-CPM"] = _ortholog_1nn(
            study, orthologs, "mouse", "human", "organ"
        )
        for name, acc in result.items():
            rows.append({"seed": seed, "method": name, "accuracy": acc})
        print(seed, {k: round(v, 3) for k, v in result.items()}, flush=True)
        print(seed, f"train s: joint {t_joint:.0f}, reference {t_ref:.0f}, query {t_query:.0f}")
    frame = pd.DataFrame(rows)
    table = frame.pivot(index="method", columns="seed", values="accuracy")
    table = table.loc[frame["method"].unique()]
    text = (
        f"{command(__file__, '--study', 'species', '--seeds', *seeds)}: "
        "`simulate_study(species=('mouse', 'rat', 'human'))`,"
        " organ labels of mouse only; accuracy of human organs predicted from mouse."
    )
    header = ["method", *(f"seed {s}" for s in table.columns), "mean"]
    rows = [(m, *(f"{v:.3f}" for v in r), f"{r.mean():.3f}") for m, r in table.iterrows()]
    title = "New species: human added to a mouse + rat model"
    return section(title, text, header, "l" + "r" * (len(header) - 1), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", choices=["genes", "species", "all"], default="all")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", default=RESULTS / "query.md")
    args = parser.parse_args()
    lines = []
    if args.study in ("genes", "all"):
        lines += [*genes(args.seeds, args.epochs), ""]
    if args.study in ("species", "all"):
        lines += [*species(args.seeds, args.epochs), ""]
    write(args.out, lines)


if __name__ == "__main__":
    main()
