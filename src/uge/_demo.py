"""``uge demo``: the UGE paper's experiment on the simulated mouse + rat study."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import anndata as ad

    from .model import UGE

CONDITION = "tetracycline"
SOURCE, TARGET = "mouse", "rat"


def run(out: Path, quick: bool, seed: int, progress: bool) -> dict:
    """Train without rat x tetracycline, predict it, annotate rat organs; write results."""
    import matplotlib

    matplotlib.use("Agg")
    import scanpy as sc
    import scvi

    scvi.settings.seed = seed
    out.mkdir(parents=True, exist_ok=True)
    sc.settings.figdir = out
    start = time.perf_counter()
    study, truth, orthologs, held = _simulate(quick, seed)
    train, model, report = _train(study, orthologs, held, quick, progress)
    report["annotation"] = _annotate(model, study, held)
    report["gene_mapping"] = _map_genes(model, train, orthologs, truth["functional_map"])
    report["perturbation"], figure = _perturbation(model, study, train, orthologs, truth, held)
    _write_outputs(out, study, model, figure, seed)
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(
        f"\nwrote {out}/: annotation_accuracy.png, perturbation_scatter.png, umap_X_uge.png, "
        f"demo.h5ad (obsm['X_uge'], obs['uge_prediction'], layers['uge_{CONDITION}']), "
        f"model/, report.json ({report['total_seconds']:.0f} s in all)"
    )
    sys.stdout.flush()
    return report


def _simulate(quick: bool, seed: int) -> tuple[ad.AnnData, dict, pd.DataFrame, np.ndarray]:
    """The simulated study, its truth, its ortholog table and the held-out samples' mask."""
    import uge

    n, genes = (150, 300) if quick else (500, 1000)
    study = uge.datasets.simulate_study(n_samples_per_species=n, n_genes=genes, seed=seed)
    truth = study.uns.pop("uge_truth")
    orthologs = study.uns.pop("orthologs")
    held = ((study.obs["species"] == TARGET) & (study.obs["drug"] == CONDITION)).to_numpy()
    print(
        f"uge {uge.__version__} demo: simulated {SOURCE} + {TARGET} study, {n} samples per "
        f"species, 10 organs x (control + 3 drugs), {study.n_vars} genes, "
        f"{len(orthologs)} ortholog pairs"
    )
    print(f"held out: all {int(held.sum())} {TARGET} x {CONDITION} samples (never trained on)")
    return study, truth, orthologs, held


def _train(
    study: ad.AnnData, orthologs: pd.DataFrame, held: np.ndarray, quick: bool, progress: bool
) -> tuple[ad.AnnData, UGE, dict]:
    """Train UGE on all samples but the held-out ones; the training data, model and report."""
    import uge

    train = study[~held].copy()
    uge.UGE.setup_anndata(train, labels_key="organ", condition_key="drug")
    model = uge.UGE(train, orthologs=orthologs)
    t0 = time.perf_counter()
    model.train(max_epochs=40 if quick else None, enable_progress_bar=progress)
    seconds = time.perf_counter() - t0
    n_epochs = len(model.history["reconstruction_loss_train"])
    print(f"trained {n_epochs} epochs on {train.n_obs} samples in {seconds:.0f} s")
    return train, model, {"train_seconds": round(seconds, 1), "epochs": n_epochs}


def _annotate(model: UGE, study: ad.AnnData, held: np.ndarray) -> dict:
    """Organ annotation of rat samples from mouse labels: print and report the scores."""
    import uge

    study.obsm["X_uge"] = model.get_latent_representation(study)
    model.predict_labels(SOURCE, TARGET, adata=study, key_added="uge_prediction")
    scores = uge.tl.annotation_scores(study)
    held_acc = float(
        (study.obs["uge_prediction"][held].astype(str) == study.obs["organ"][held].astype(str))
        .to_numpy()
        .mean()
    )
    overall = scores.loc["overall"]
    print(
        f"\norgan of {TARGET} samples from {SOURCE} labels (kNN in X_uge): accuracy "
        f"{overall['accuracy']:.3f}, macro-F1 {overall['f1']:.3f}; random chance "
        f"{overall['chance_accuracy']:.3f} / {overall['chance_f1']:.3f}; held-out "
        f"{TARGET} x {CONDITION} samples {held_acc:.3f}"
    )
    print(_table(scores.drop(index="overall")[["n", "accuracy", "chance_accuracy", "f1"]]))
    return {"held_out_accuracy": held_acc, **_records(scores)}


def _map_genes(model: UGE, train: ad.AnnData, orthologs: pd.DataFrame, fmap: pd.DataFrame) -> dict:
    """Mouse genes mapped to rat genes by UGE and two baselines: print and report top-1 hits."""
    import uge

    uge.tl.reactome(train, labels_key="organ", condition_key="drug")
    table = pd.DataFrame(
        {
            "source_gene": f"{SOURCE}:" + orthologs[SOURCE].astype(str),
            "target_gene": f"{TARGET}:" + orthologs[TARGET].astype(str),
            "rank": 1,
        }
    )
    mappings = {
        "UGE": model.map_genes(SOURCE, TARGET),
        "reactome similarity": uge.tl.map_genes_by_reactome(train, SOURCE, TARGET),
        "ortholog table": table,
    }
    genes = pd.DataFrame(
        {m: uge.tl.evaluate_gene_mapping(v, fmap)["top1"] for m, v in mappings.items()}
    )
    print(
        f"\n{SOURCE} genes mapped to their functional {TARGET} partner (top-1 hit rate; "
        f"rewired: the ortholog table names the wrong gene); gene alignment: "
        f"{model.gene_alignment_['overridden']} ortholog pairs overridden, "
        f"{model.gene_alignment_['added']} added by reactome similarity"
    )
    print(_table(genes))
    return {"top1": _records(genes), "alignment": model.gene_alignment_}


def _predicted_means(
    model: UGE,
    study: ad.AnnData,
    train: ad.AnnData,
    orthologs: pd.DataFrame,
    held: np.ndarray,
    rat_genes: pd.Index,
) -> dict[str, pd.DataFrame]:
    """Rat organ means under the drug: UGE's two predictions, the baselines, the held-out data."""
    import uge

    methods = {
        "UGE": model.predict_perturbation(
            CONDITION, TARGET, adata=study, key_added=f"uge_{CONDITION}"
        ),
        "UGE, condition token": model.predict_perturbation(
            CONDITION,
            TARGET,
            adata=study,
            method="condition_token",
            key_added=f"uge_{CONDITION}_token",
        ),
    }
    means = {name: uge.tl.pseudobulk(pred, "organ") for name, pred in methods.items()}
    means.update(
        uge.tl.perturbation_baselines(
            train, CONDITION, SOURCE, TARGET, orthologs, condition_key="drug", labels_key="organ"
        )
    )
    means["held-out samples"] = uge.tl.pseudobulk(study[held, rat_genes], "organ")
    return means


def _perturbation(
    model: UGE,
    study: ad.AnnData,
    train: ad.AnnData,
    orthologs: pd.DataFrame,
    truth: dict,
    held: np.ndarray,
) -> tuple[dict, dict[str, Any]]:
    """Rat organs under the drug: the report and what the scatter figure shows."""
    rat_genes = study.var_names[study.var["species"] == TARGET]
    organs = list(study.obs["organ"].cat.categories)
    gm = truth["group_means"]
    observed = _rows(gm, [f"{TARGET}|{o}|{CONDITION}" for o in organs], organs, rat_genes)
    control = _rows(gm, [f"{TARGET}|{o}|control" for o in organs], organs, rat_genes)
    responding = truth["responding"][CONDITION]
    means = _predicted_means(model, study, train, orthologs, held, rat_genes)
    report = _perturbation_report(means, observed, control, responding, organs)
    figure = {
        "means": {m: means[m] for m in ("UGE", "additive", "no change")},
        "observed": observed,
        "control": control,
        "groups": [o for o in organs if responding[o]],
    }
    return report, figure


def _perturbation_report(
    means: dict[str, pd.DataFrame],
    observed: pd.DataFrame,
    control: pd.DataFrame,
    responding: pd.Series,
    organs: list[str],
) -> dict:
    """R² of every method's organ means against the truth: print and report them."""
    import uge

    r2 = {m: uge.tl.perturbation_r2(v, observed, 100, control) for m, v in means.items()}
    table = pd.DataFrame({m: r["r2"] for m, r in r2.items()}).loc[organs]
    table.insert(0, "responds", responding.loc[organs].map({True: "yes", False: "no"}))
    degs = pd.DataFrame({m: r["r2_degs"] for m, r in r2.items()}).loc[organs]
    resp = responding.loc[organs].to_numpy()
    wins = int(
        ((table["UGE"] > table["additive"]) & (table["UGE"] > table["no change"]))[resp].sum()
    )
    print(
        f"\n{TARGET} organs under {CONDITION}: R² (squared Pearson over the {observed.shape[1]} "
        f"{TARGET} genes) of predicted vs true log1p(CP10k) group means; 'held-out samples' "
        "is the mean of the held-out samples themselves (the noise floor of a measurement)"
    )
    print(_table(table))
    median = table.loc[resp].drop(columns="responds").median()
    print(
        "median over responding organs: "
        + ", ".join(f"{m} {v:.3f}" for m, v in median.items())
        + f"\nUGE beats both baselines in {wins} of {int(resp.sum())} responding organs"
    )
    print(
        "R² over the top 100 DEGs, median over responding organs: "
        + ", ".join(f"{m} {v:.3f}" for m, v in degs.loc[resp].median().items())
    )
    return {
        "r2": _records(table),
        "r2_degs": _records(degs),
        "median_r2_responding": median.to_dict(),
        "uge_beats_both_baselines": f"{wins} of {int(resp.sum())}",
        "responding": [o for o in organs if responding[o]],
    }


def _write_outputs(
    out: Path, study: ad.AnnData, model: UGE, figure: dict[str, Any], seed: int
) -> None:
    """The figures (into ``sc.settings.figdir``), ``demo.h5ad`` and the saved model."""
    import scanpy as sc

    import uge

    uge.pl.annotation_accuracy(study, show=False, save=".png")
    uge.pl.perturbation_scatter(
        figure["means"],
        figure["observed"],
        figure["control"],
        groups=figure["groups"],
        observed_name="true",
        show=False,
        save=".png",
    )
    sc.pp.neighbors(study, use_rep="X_uge")
    sc.tl.umap(study, random_state=seed)
    sc.pl.umap(study, color=["species", "organ", "drug"], show=False, save="_X_uge.png")
    study.write_h5ad(out / "demo.h5ad")
    model.save(str(out / "model"), overwrite=True)


def _rows(frame: pd.DataFrame, rows: list[str], names: list[str], genes) -> pd.DataFrame:
    table = frame.loc[rows, genes]
    table.index = names
    return table


def _records(frame: pd.DataFrame) -> dict:
    return json.loads(frame.to_json(orient="index"))


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(float_format=lambda v: f"{v:.3f}" if np.isfinite(v) else "-")
