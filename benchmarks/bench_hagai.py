"""One stimulus in several species: poly(I:C) in a held-out species, Hagai 2018 fibroblasts.

Human, rat and rhesus dermal fibroblasts, unstimulated (``"unst"``) and after 8 h of
poly(I:C) (``"PIC8"``), on the genes with a one-to-one ortholog in all three
(:func:`uge.datasets.load_hagai2018`). Each species in turn: its PIC8 cells are held out
and predicted from its own unstimulated cells and the other species' responses. Score: R²
(squared Pearson correlation) of the predicted mean log1p CP10k expression against the
held-out cells' measured mean, over all genes and over the held-out species' top-100 genes
by |PIC8 - unst|. Rows in the same run:

- no change: the held-out species' unstimulated cells;
- additive: those plus another species' mean shift through the orthologs, or the mean of
  both other species' shifts;
- UGE (defaults, ortholog prior, species-own gene tokens): ``predict_perturbation("PIC8",
  target_species=..., source_species=...)`` from each other species and from both; for rat
  (the non-primate) once more without the ortholog prior;
- scGen (pertpy, on the orthologs, species as the cell type) where pertpy is installed;
- a split-half floor: the R² of one random half of the held-out cells' mean against the
  other half's (50 splits), what a prediction as noisy as half the cells would reach.

Cell counts are small (13-40 per group), so each UGE cell gives the mean over seeds (range
in brackets) and the share of bootstrap resamples of the held-out cells in which UGE from
both species is at or above the best additive row. Usage: ``python benchmarks/bench_hagai.py
--data-dir ../shared/data --seeds 0 1 2``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scvi
from _harness import RESULTS, command, section, seeded, write
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

import uge

SPECIES = ("human", "rat", "rhesus")
CONTROL, STIM = "unst", "PIC8"


def log_cp10k(x: np.ndarray) -> np.ndarray:
    """log1p of counts per 10,000 (per row)."""
    x = np.asarray(x, dtype=np.float64)
    return np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1e-12) * 1e4)


def load(data_dir: str | None) -> ad.AnnData:
    """The three species' unst and PIC8 cells on their one-to-one genes, in one AnnData."""
    full = uge.datasets.load_hagai2018(data_dir, species=SPECIES)
    table = full.uns["orthologs"]
    keep_cells = full.obs["condition"].isin([CONTROL, STIM]).to_numpy()
    genes = set()
    for s in SPECIES:
        genes |= {f"{s}:{g}" for g in table[s]}
    adata = full[keep_cells, full.var_names.isin(genes)].copy()
    adata.obs["condition"] = adata.obs["condition"].cat.remove_unused_categories()
    return adata


class Study:
    """Every species' cells as log1p CP10k over the ortholog table's rows.

    Parameters
    ----------
    adata
        :func:`load`'s AnnData.
    """

    def __init__(self, adata: ad.AnnData) -> None:
        self.adata = adata
        self.table = adata.uns["orthologs"].reset_index(drop=True)
        self.expr: dict[str, np.ndarray] = {}
        self.cond: dict[str, np.ndarray] = {}
        for s in SPECIES:
            rows = (adata.obs["species"] == s).to_numpy()
            cols = adata.var_names.get_indexer([f"{s}:{g}" for g in self.table[s]])
            x = adata.X[rows][:, cols]
            self.expr[s] = log_cp10k(x.toarray() if hasattr(x, "toarray") else x)
            self.cond[s] = adata.obs["condition"].to_numpy()[rows].astype(str)

    def mean(self, species: str, condition: str) -> np.ndarray:
        """Mean log1p CP10k of a species' cells of a condition."""
        return self.expr[species][self.cond[species] == condition].mean(0)

    def shift(self, species: str) -> np.ndarray:
        """A species' mean PIC8 minus unst, per ortholog row."""
        return self.mean(species, STIM) - self.mean(species, CONTROL)

    def aligned(self, pred: ad.AnnData, species: str, log1p: bool = False) -> np.ndarray:
        """A UGE prediction on ``species``' genes (expected counts, or log1p CP10k values
        when ``log1p``) as the mean log1p CP10k over the table's rows."""
        cols = pred.var_names.get_indexer([f"{species}:{g}" for g in self.table[species]])
        values = np.asarray(pred.X)[:, cols]
        return (values if log1p else log_cp10k(values)).mean(0)


class Case:
    """One held-out species: its truth, its DEGs and the scores."""

    def __init__(self, study: Study, held_out: str) -> None:
        self.study, self.held_out = study, held_out
        self.others = [s for s in SPECIES if s != held_out]
        self.truth = study.mean(held_out, STIM)
        self.control = study.mean(held_out, CONTROL)
        self.deg = np.argsort(-np.abs(self.truth - self.control))[:100]
        obs = study.adata.obs
        held = ((obs["species"] == held_out) & (obs["condition"] == STIM)).to_numpy()
        self.train = study.adata[~held].copy()

    def r2(self, pred: np.ndarray, truth: np.ndarray | None = None) -> tuple[float, float]:
        """R² of a predicted mean over all genes and over the top-100 DEGs."""
        truth = self.truth if truth is None else truth
        r_all = np.corrcoef(pred, truth)[0, 1]
        r_deg = np.corrcoef(pred[self.deg], truth[self.deg])[0, 1]
        return float(r_all**2), float(r_deg**2)

    def baselines(self) -> dict[str, np.ndarray]:
        """The predicted means of no change and the additive rows."""
        shifts = {s: self.study.shift(s) for s in self.others}
        rows = {"no change": self.control}
        for s, d in shifts.items():
            rows[f"additive, {s} shift"] = self.control + d
        rows["additive, mean of both shifts"] = self.control + np.mean(list(shifts.values()), 0)
        return rows

    def floor(self, n_splits: int = 50, seed: int = 0) -> tuple[float, float]:
        """Split-half R² of the held-out cells (mean over random splits)."""
        cells = self.study.expr[self.held_out][self.study.cond[self.held_out] == STIM]
        rng = np.random.default_rng(seed)
        values = []
        for _ in range(n_splits):
            order = rng.permutation(len(cells))
            half = len(cells) // 2
            a, b = cells[order[:half]].mean(0), cells[order[half:]].mean(0)
            values.append(self.r2(a, b))
        return tuple(np.mean(values, 0))

    def uge(
        self,
        epochs: int,
        prior: bool = True,
        tied: bool = False,
        log1p: bool = False,
        **model_kwargs: Any,
    ) -> tuple[dict[str, np.ndarray], pd.Series]:
        """UGE's predicted means from each other species and from both, and the model's
        predicted PIC8 response of the held-out species' genes (``predict_reactome``,
        indexed by human gene IDs). ``tied``: paired genes share one embedding (the
        residuals of :class:`uge.module.GeneEmbedding` kept at 0), an ablation.
        ``log1p``: the model reads log1p CP10k values (so its likelihood is Gaussian)
        instead of counts."""
        adata = self.train.copy()
        if log1p:
            x = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
            adata.X = log_cp10k(x).astype(np.float32)
        uge.UGE.setup_anndata(adata, condition_key="condition", control_condition=CONTROL)
        orthologs = adata.uns["orthologs"] if prior else None
        model = uge.UGE(adata, orthologs=orthologs, **model_kwargs)
        if tied:
            gene = model.module.embedding.gene
            ids = gene.anchored_ids
            gene.weight.register_hook(lambda grad: grad.index_fill(0, ids, 0.0))
        model.train(max_epochs=epochs, enable_progress_bar=False)
        sources = [*([s] for s in self.others), self.others]
        if not prior:
            sources = [self.others]
        rows = {}
        for src in sources:
            pred = model.predict_perturbation(STIM, self.held_out, source_species=src)
            name = "both" if len(src) > 1 else src[0]
            suffix = "" if prior else ", no ortholog prior"
            rows[f"UGE, from {name}{suffix}"] = self.study.aligned(pred, self.held_out, log1p)
        response = model.predict_reactome(self.held_out, conditions=[STIM]).iloc[:, 0]
        table = self.study.table
        human = dict(zip(self.held_out + ":" + table[self.held_out], table["human"], strict=True))
        return rows, response.rename(index=human)

    def scgen(self, epochs: int) -> dict[str, np.ndarray]:
        """pertpy's scGen on the orthologs (log1p CP10k), species as the cell type."""
        import pertpy as pt

        study = self.study
        x = np.vstack([study.expr[s] for s in SPECIES])
        obs = pd.DataFrame(
            {
                "species": np.repeat(SPECIES, [len(study.expr[s]) for s in SPECIES]),
                "condition": np.concatenate([study.cond[s] for s in SPECIES]),
            }
        )
        obs.index = obs.index.astype(str)
        keep = ~((obs["species"] == self.held_out) & (obs["condition"] == STIM)).to_numpy()
        adata = ad.AnnData(x[keep].astype(np.float32), obs=obs[keep].copy())
        pt.tl.Scgen.setup_anndata(adata, batch_key="condition", labels_key="species")
        model = pt.tl.Scgen(adata)
        model.train(
            max_epochs=epochs,
            batch_size=32,
            early_stopping=True,
            early_stopping_patience=25,
            enable_progress_bar=False,
        )
        pred, _ = model.predict(ctrl_key=CONTROL, stim_key=STIM, celltype_to_predict=self.held_out)
        return {"scGen (pertpy, orthologs)": np.asarray(pred.X).mean(0)}

    def bootstrap(self, a: np.ndarray, b: np.ndarray, n: int = 500, seed: int = 0) -> tuple:
        """Share of resamples of the held-out cells in which prediction ``a`` has R² at or
        above ``b`` (all genes, DEGs)."""
        cells = self.study.expr[self.held_out][self.study.cond[self.held_out] == STIM]
        rng = np.random.default_rng(seed)
        wins = []
        for _ in range(n):
            truth = cells[rng.integers(0, len(cells), len(cells))].mean(0)
            wins.append(np.greater_equal(self.r2(a, truth), self.r2(b, truth)))
        return tuple(np.mean(wins, 0))


def scgen_status() -> str | None:
    """``None`` when pertpy imports, else the error that stops it."""
    try:
        import pertpy  # noqa: F401
    except Exception as err:  # any import failure is reported as it is
        return f"{type(err).__name__}: {err}"
    return None


def fmt(values: list[tuple[float, float]]) -> str:
    """Mean of R² pairs over seeds, the range of the first in brackets when several."""
    arr = np.asarray(values)
    text = " / ".join(f"{m:.3f}" for m in arr.mean(0))
    if len(arr) > 1:
        text += f" ({arr[:, 0].min():.3f}-{arr[:, 0].max():.3f})"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--scgen-epochs", type=int, default=200)
    parser.add_argument("--held-out", nargs="+", default=list(SPECIES), choices=SPECIES)
    parser.add_argument(
        "--input",
        choices=("counts", "log1p"),
        default="counts",
        help="what UGE reads: the counts (negative binomial) or log1p CP10k (Gaussian)",
    )
    parser.add_argument("--no-ablation", action="store_true", help="skip the ablation table")
    parser.add_argument("--out", default=str(RESULTS / "hagai.md"))
    args = parser.parse_args()
    log1p = args.input == "log1p"
    study = Study(load(args.data_dir))
    missing = scgen_status()
    scores: dict[str, dict[str, list]] = {}
    boots, seconds, responses = {}, [], {}
    for held_out in args.held_out:
        case = Case(study, held_out)
        res = scores[held_out] = {k: [case.r2(v)] for k, v in case.baselines().items()}
        best = max((k for k in res if k.startswith("additive")), key=lambda k: sum(res[k][0]))
        res["split-half floor"] = [case.floor()]
        both = []
        for seed in seeded(args.seeds):
            start = time.perf_counter()
            runs, response = case.uge(args.epochs, log1p=log1p)
            seconds.append(time.perf_counter() - start)
            responses.setdefault(held_out, []).append(response)
            if held_out == "rat":
                runs |= case.uge(args.epochs, prior=False, log1p=log1p)[0]
            if missing is None:
                runs |= case.scgen(args.scgen_epochs)
            for k, v in runs.items():
                res.setdefault(k, []).append(case.r2(v))
            both.append(runs["UGE, from both"])
            print(held_out, seed, {k: v[-1] for k, v in res.items()}, flush=True)
        boots[held_out] = (best, case.bootstrap(np.mean(both, 0), case.baselines()[best]))
    methods = list(dict.fromkeys(k for r in scores.values() for k in r))
    rows = [
        (m, *(fmt(scores[h][m]) if m in scores[h] else "" for h in args.held_out)) for m in methods
    ]
    boot = "; ".join(
        f"{h}: against {b} {w[0]:.0%} (all genes) and {w[1]:.0%} (DEGs)"
        for h, (b, w) in boots.items()
    )
    peer = (
        "scGen: `pertpy.tl.Scgen` defaults, on the orthologs' log1p CP10k, species as the "
        f"cell type, {args.scgen_epochs} epochs at most, batch 32, early stopping (patience 25)."
        if missing is None
        else f"scGen not run: pertpy does not import here ({missing}); its published "
        "cross-species result on the same study's phagocytes (rat LPS from mouse, pig, "
        "rabbit): R² 0.910 / 0.742."
    )
    reads = "log1p CP10k values (Gaussian likelihood)" if log1p else "counts (negative binomial)"
    n = study.adata.obs.groupby(["species", "condition"], observed=True).size()
    counts = ", ".join(f"{s} {n[s][CONTROL]} / {n[s][STIM]}" for s in SPECIES)
    text = (
        f"{command(__file__, *sys.argv[1:])}: {len(study.table)} genes with a one-to-one "
        f"ortholog in all three species; cells unst / PIC8: {counts}. Each cell: R² over all "
        "genes / over the held-out species' top-100 DEGs (mean over seeds, range of the first "
        f"in brackets). UGE: defaults on the {reads}, {args.epochs} epochs, seeds "
        f"{', '.join(map(str, args.seeds))}, about {np.mean(seconds):.0f} s each. Bootstrap "
        f"(500 resamples of the held-out cells), share in which UGE from both is at or above "
        f"the best additive row: {boot}. {peer}"
    )
    header = ["prediction", *(f"{h} held out" for h in args.held_out)]
    title = "Hagai 2018 fibroblasts: poly(I:C) in a held-out species"
    lines = section(title, text, header, "l" * len(header), rows)
    lines += ["", *bulk_section(args.data_dir, responses)]
    if not args.no_ablation:
        lines += ["", *ablation_section(study, args.epochs)]
    write(args.out, lines)


#: Ablation of the held-out human case (seed 0): name -> arguments of :meth:`Case.uge`.
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults (gene_align_weight 10)": {},
    "gene_align_weight 100": {"gene_align_weight": 100.0},
    "gene_align_weight 1000": {"gene_align_weight": 1000.0},
    "paired genes share one embedding (residuals kept at 0)": {"tied": True},
    "no latent alignment (latent_align_weight 0)": {"latent_align_weight": 0.0},
}


def ablation_section(study: Study, epochs: int, held_out: str = "human") -> list[str]:
    """UGE from both other species, one change at a time, with the case's baselines."""
    case = Case(study, held_out)
    rows = [(k, *(f"{v:.3f}" for v in case.r2(p))) for k, p in case.baselines().items()]
    for name, kwargs in VARIANTS.items():
        scvi.settings.seed = 0
        runs, _ = case.uge(epochs, **kwargs)
        rows.append(
            (f"UGE from both, {name}", *(f"{v:.3f}" for v in case.r2(runs["UGE, from both"])))
        )
        print(rows[-1], flush=True)
    text = (
        f"The same script: {held_out} held out, seed 0, {epochs} epochs; one change at a time "
        "against UGE's defaults. R² over all genes and the top-100 DEGs."
    )
    title = f"Hagai 2018 ablation: {held_out} held out"
    return section(title, text, "prediction | R² all genes | R² top-100 DEGs", "lrr", rows)


CLOSEST = {"human": "rhesus", "rhesus": "human", "rat": "mouse", "mouse": "rat"}
BULK = ("human", "rhesus", "rat", "mouse")


def completion(table: pd.DataFrame, held_out: str, ranks: tuple[int, ...] = (1, 2, 3)) -> tuple:
    """``uge.tl.predict_reactome`` of a held-out species' column (one label, the species as
    conditions), its rank chosen by hiding each other species in turn (the held-out
    species' values are never used)."""
    cols = [f"fibroblast|{s}" for s in BULK]
    frame = pd.DataFrame(table.to_numpy(), index=table.index, columns=cols)
    frame[f"fibroblast|{held_out}"] = np.nan
    others = [s for s in BULK if s != held_out]

    def score(rank: int) -> float:
        values = []
        for o in others:
            hidden = frame.copy()
            hidden[f"fibroblast|{o}"] = np.nan
            pred = uge.tl.predict_reactome(hidden, rank=rank)[f"fibroblast|{o}"]
            values.append(spearmanr(pred, table[o])[0])
        return float(np.mean(values))

    rank = max(ranks, key=score)
    return uge.tl.predict_reactome(frame, rank=rank)[f"fibroblast|{held_out}"], rank


def bulk_section(data_dir: str | None, responses: dict[str, list[pd.Series]]) -> list[str]:
    """Held-out species' bulk response (log2 fold change) from the other species."""
    bulk = uge.datasets.load_hagai2018_bulk(data_dir)
    fc = bulk[[f"{s}_log2FC" for s in BULK]].set_axis(list(BULK), axis=1).dropna()
    rows, chosen = [], {}
    for h in BULK:
        truth, others = fc[h], [s for s in BULK if s != h]
        significant = (bulk.loc[fc.index, f"{h}_padj"] < 0.05).to_numpy()
        preds = {
            "mean of the other three": fc[others].mean(1),
            "closest species": fc[CLOSEST[h]],
        }
        preds["uge.tl.predict_reactome (rank by hiding the others)"], chosen[h] = completion(fc, h)
        if h in responses:
            preds["UGE model on the single cells (PIC8, never measured in it)"] = pd.concat(
                responses[h], axis=1
            ).mean(1)
        for name, pred in preds.items():
            pred = pred.reindex(fc.index)
            ok = pred.notna().to_numpy()
            rho = spearmanr(pred[ok], truth[ok])[0]
            auc = roc_auc_score(significant[ok], pred[ok].abs())
            label = f"{name} ({CLOSEST[h]})" if name == "closest species" else name
            rows.append((h, label, f"{rho:.3f}", f"{auc:.3f}", f"{ok.sum()}"))
            print(rows[-1], flush=True)
    text = (
        "The bulk responses (`uge.datasets.load_hagai2018_bulk`: log2 fold change after 4 h "
        f"of poly(I:C), {len(fc)} one-to-one orthologs of the four species) as a reactome of "
        "one stimulus: each species' column hidden in turn and predicted from the other "
        "three. Spearman correlation with the hidden column over genes, and DEG AUC: how well "
        "|prediction| ranks the held-out species' significant genes (padj < 0.05) above the "
        "others. `predict_reactome` ranks chosen: "
        + ", ".join(f"{h} {r}" for h, r in chosen.items())
        + ". The UGE model row is the single-cell model above (its PIC8 response, decoded, "
        "mean over seeds), trained without the held-out species' PIC8 cells: a different "
        "time point (8 h) and assay than the bulk truth."
    )
    header = "held out | prediction | Spearman | DEG AUC | genes"
    title = "Hagai 2018 bulk responses: a held-out species' fold changes"
    return section(title, text, header, "llrrr", rows)


if __name__ == "__main__":
    main()
