"""Gene correspondence: UGE's learned gene space against the baselines, on the same data.

Two studies, each run as a user would:

- ``simulated``: the default ``simulate_study`` (500 mouse + 500 rat samples, 10 organs x
  control + 3 drugs) for several seeds, all samples used. Mouse genes are mapped to rat
  genes and scored against the simulator's functional map (one-to-one, one-to-many and
  rewired pairs). Methods: the ortholog table itself (each gene's ortholog at rank 1),
  ``uge.tl.map_genes_by_reactome`` (the direct baseline) and ``model.map_genes`` for UGE
  with gene alignment from the orthologs only (the design before reactomes) and from both.
  Also: how well the best score tells genes without a partner (species-specific genes)
  from genes with one (ROC AUC).
- ``reactome``: the direct baseline alone, on the simulator's true (noise-free) and
  measured reactomes, with response similarity and cosine (no training).
- ``baron``: Baron pancreas, human + mouse, 2,000 highly variable genes per species, cell
  types of both species registered as labels; 80% of the one-to-one orthologs among these
  genes are the prior, 20% are held out. Held-out human genes are mapped to mouse genes;
  a hit is the true ortholog among the top 10. Methods: co-expression with the prior's
  anchor genes (``uge.tl.map_genes_by_coexpression``), cell-type reactomes
  (``uge.tl.map_genes_by_reactome``), random, and UGE (``gene_alignment="orthologs"``
  and ``"both"``).
- ``tissues``: mouse (ENCODE) and human (GTEx) organ means, the organs both atlases have
  (:func:`uge.datasets.load_tissue_atlas`) as labels; 20% of the one-to-one pairs held
  out of the prior; held-out human genes mapped to all mouse genes by the correlation of
  their organ profiles, by their organ reactomes and by UGE (the real-data version of the
  paper's functional mapping).
- ``baron-evidence``: how much the Baron cells say about held-out orthologs at all, without
  training (same split): each direct signal alone (co-expression with anchors, profile
  over cell types, co-expression within cell types, mean expression, detection rate) and
  their sum after z-scoring each source gene's scores (an upper reference for what simple
  expression statistics reach).

Usage: ``python benchmarks/bench_gene_mapping.py [--study STUDY ...|all] [--seeds 0 1 2]
[--data-dir DIR]``; one study writes ``benchmarks/results/gene_mapping_STUDY.md``, several
write ``gene_mapping.md`` (``--study simulated baron`` writes the committed one).
"""

from __future__ import annotations

import argparse

import anndata as ad
import numpy as np
import pandas as pd
import scvi
from _harness import RESULTS, command, section, setup_model, simulate, train, write
from sklearn.metrics import roc_auc_score

import uge


def ortholog_mapping(orthologs: pd.DataFrame, source: str, target: str) -> pd.DataFrame:
    """The ortholog table as a mapping: every ortholog at rank 1."""
    return pd.DataFrame(
        {
            "source_gene": f"{source}:" + orthologs[source].astype(str),
            "target_gene": f"{target}:" + orthologs[target].astype(str),
            "rank": 1,
        }
    )


def simulated(seeds: list[int], epochs: int | None) -> list[str]:
    rows, aucs = [], []
    for seed in seeds:
        adata = simulate(seed)
        truth = adata.uns.pop("uge_truth")
        fmap, kinds = truth["functional_map"], truth["genes"]["kind"]
        orthologs = adata.uns["orthologs"]
        uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
        maps = {
            "ortholog table": ortholog_mapping(orthologs, "mouse", "rat"),
            "reactome similarity (direct)": uge.tl.map_genes_by_reactome(adata, "mouse", "rat"),
        }
        for mode in ("orthologs", "both"):
            model = setup_model(adata.copy(), orthologs, gene_alignment=mode)
            train(model, epochs)
            mapping = model.map_genes("mouse", "rat")
            maps[f"UGE, gene_alignment={mode!r}"] = mapping
            best = mapping[mapping["rank"] == 1].set_index("source_gene")["score"]
            has_partner = kinds.loc[best.index] != "unique"
            aucs.append((seed, mode, roc_auc_score(has_partner, best)))
        for name, mapping in maps.items():
            scores = uge.tl.evaluate_gene_mapping(mapping, fmap)
            for kind, r in scores.iterrows():
                rows.append({"seed": seed, "method": name, "kind": kind, **r.to_dict()})
            print(seed, name, scores[["top1", "top10"]].round(3).to_dict(), flush=True)
    frame = pd.DataFrame(rows)
    mean = frame.groupby(["method", "kind"], sort=False)[["top1", "top10", "mrr"]].mean()
    spread = frame.groupby(["method", "kind"], sort=False)["top1"].agg(["min", "max"])
    text = (
        f"{command(__file__, '--study', 'simulated', '--seeds', *seeds)}: default "
        "`simulate_study` per seed, all samples; truth is the simulator's functional map "
        "(rewired: the rat gene that carries the mouse gene's drug response, not its "
        "sequence ortholog). Mean over seeds (top-1 range in brackets)."
    )
    rows = []
    for (method, kind), r in mean.iterrows():
        lo, hi = spread.loc[(method, kind)]
        top1 = f"{r['top1']:.3f} ({lo:.3f}-{hi:.3f})"
        rows.append((method, kind, top1, f"{r['top10']:.3f}", f"{r['mrr']:.3f}"))
    header = "method | kind | top-1 | top-10 | MRR"
    title = "Simulated study: mouse genes mapped to rat genes"
    lines = section(title, text, header, "llrrr", rows)
    text = (
        "Telling genes without a partner (species-specific) from genes with one by UGE's best "
        "score (ROC AUC):"
    )
    rows = [(s, m, f"{a:.3f}") for s, m, a in aucs]
    return [*lines, "", *section(None, text, "seed | gene_alignment | ROC AUC", "rlr", rows)]


def reactome_only(seeds: list[int]) -> list[str]:
    """Direct reactome mapping: measured vs true reactomes, response similarity vs cosine."""
    rows = []
    for seed in seeds:
        adata = uge.datasets.simulate_study(seed=seed)
        truth = adata.uns.pop("uge_truth")
        uge.tl.reactome(adata, labels_key="organ", condition_key="drug")
        uge.tl.reactome(adata, labels_key="organ", condition_key="drug", key_added="measured")
        adata.varm["true"] = truth["reactome"].to_numpy()
        adata.uns["uge"]["true"] = {"columns": np.asarray(truth["reactome"].columns, object)}
        for key in ("true", "measured"):
            for sim in ("response", "cosine"):
                mapping = uge.tl.map_genes_by_reactome(
                    adata, "mouse", "rat", key=key, similarity=sim
                )
                scores = uge.tl.evaluate_gene_mapping(mapping, truth["functional_map"])
                for kind, r in scores.iterrows():
                    rows.append({"reactome": key, "similarity": sim, "kind": kind, **r})
        # a ceiling for any use of the measured reactome: rewired mouse genes ranked only
        # against the rat genes that could be their partner (rewired or without ortholog)
        kinds = truth["genes"]["kind"]
        n_rat = int((adata.var["species"] == "rat").sum())
        full = uge.tl.map_genes_by_reactome(adata, "mouse", "rat", key="measured", top_k=n_rat)
        free = full[kinds.reindex(full["target_gene"]).isin(["rewired", "unique"]).to_numpy()]
        free = free.assign(rank=free.groupby("source_gene")["score"].rank("first", False))
        fmap = truth["functional_map"]
        r = uge.tl.evaluate_gene_mapping(free, fmap[fmap["kind"] == "rewired"]).loc["rewired"]
        rows.append(
            {
                "reactome": "measured, oracle candidates",
                "similarity": "response",
                "kind": "rewired",
                **r,
            }
        )
    mean = pd.DataFrame(rows).groupby(["reactome", "similarity", "kind"], sort=False).mean()
    text = (
        f"{command(__file__, '--study', 'reactome', '--seeds', *seeds)}: "
        "`uge.tl.map_genes_by_reactome` on the simulator's "
        "true reactomes (noise-free) and on those measured by `uge.tl.reactome`, with "
        "response similarity and cosine; mean over seeds. 'Oracle candidates': each rewired "
        "mouse gene ranked only against the rat genes that are rewired or have no ortholog "
        "(the truth tells which), a ceiling for any method that matches measured reactomes."
    )
    rows = [(*k, f"{r['top1']:.3f}", f"{r['top10']:.3f}") for k, r in mean.iterrows()]
    header = "reactome | similarity | kind | top-1 | top-10"
    title = "Simulated study: direct reactome mapping, true vs measured reactomes"
    return section(title, text, header, "lllrr", rows)


def _split(adata: ad.AnnData, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 80/20 split of the one-to-one orthologs used by both Baron studies."""
    orthologs = adata.uns.pop("orthologs")
    held = np.random.default_rng(seed).random(len(orthologs)) < 0.2
    return orthologs[~held], orthologs[held]


def _unit_rows(a: np.ndarray) -> np.ndarray:
    a = a - a.mean(1, keepdims=True)
    return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)


def _coexpression(x: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Pearson correlation of every gene (column of ``x``) with each anchor gene."""
    z = (x - x.mean(0)) / np.maximum(x.std(0), 1e-6)
    return z.T @ z[:, anchors] / len(x)


def baron_evidence(data_dir: str | None, seed: int = 0) -> list[str]:
    adata = uge.datasets.load_baron(data_dir)
    prior, test = _split(adata, seed)
    x = uge.core.log_normalise(adata.X, True)
    x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
    per = {}
    for sp in ("human", "mouse"):
        rows = (adata.obs["species"] == sp).to_numpy()
        cols = (adata.var["species"] == sp).to_numpy()
        genes = pd.Index(adata.var.loc[cols, "gene"].astype(str))
        per[sp] = (x[np.ix_(rows, cols)], genes, adata.obs["cell_type"].astype(str)[rows])
    (xh, gh, th), (xm, gm, tm) = per["human"], per["mouse"]
    anchors = prior[prior["human"].isin(gh) & prior["mouse"].isin(gm)]
    ah, am = gh.get_indexer(anchors["human"]), gm.get_indexer(anchors["mouse"])
    test = test[test["human"].isin(gh) & test["mouse"].isin(gm)]
    qh, qm = gh.get_indexer(test["human"]), gm.get_indexer(test["mouse"])
    types = sorted(set(th) & set(tm))
    big = [t for t in types if (th == t).sum() >= 30 and (tm == t).sum() >= 30]

    def profile(xs: np.ndarray, ts: pd.Series) -> np.ndarray:
        return np.stack([xs[(ts == t).to_numpy()].mean(0) for t in types], 1)

    def within(xs: np.ndarray, ts: pd.Series, anc: np.ndarray) -> np.ndarray:
        return np.hstack([np.nan_to_num(_coexpression(xs[(ts == t).to_numpy()], anc)) for t in big])

    def corr(fh: np.ndarray, fm: np.ndarray) -> np.ndarray:
        return _unit_rows(fh[qh]) @ _unit_rows(fm).T

    def closeness(vh: np.ndarray, vm: np.ndarray) -> np.ndarray:
        return -np.abs(vh[qh][:, None] - vm[None, :])

    level = [np.log(np.expm1(v).mean(0) + 1e-3) for v in (xh, xm)]
    signals = {
        "co-expression with prior anchors": corr(_coexpression(xh, ah), _coexpression(xm, am)),
        "profile over cell types": corr(profile(xh, th), profile(xm, tm)),
        f"co-expression within cell types ({len(big)} types)": corr(
            within(xh, th, ah), within(xm, tm, am)
        ),
        "mean expression": closeness(*level),
        "detection rate": closeness((xh > 0).mean(0), (xm > 0).mean(0)),
    }
    z = [(s - s.mean(1, keepdims=True)) / s.std(1, keepdims=True) for s in signals.values()]
    signals["all five, z-scored and summed"] = np.sum(z, axis=0)
    text = (
        f"{command(__file__, '--study', 'baron-evidence')}: the split of the "
        f"Baron study ({len(anchors)} prior pairs, {len(test)} held out, {len(gm)} mouse "
        "genes to rank), no training: each direct expression signal alone and their sum. "
        "Ties count against the method."
    )
    rows = []
    for name, score in signals.items():
        true = score[np.arange(len(qh)), qm]
        rank = (score >= true[:, None]).sum(1)  # 1 = best; ties pessimistic
        top = (f"{np.mean(rank <= 1):.3f}", f"{np.mean(rank <= 10):.3f}")
        rows.append((name, *top, f"{np.median(rank):.0f}"))
        print(rows[-1], flush=True)
    header = "signal | top-1 | top-10 | median rank"
    title = "Baron pancreas: how much the cells say about held-out orthologs"
    return section(title, text, header, "lrrr", rows)


def baron(data_dir: str | None, epochs: int | None, seed: int = 0) -> list[str]:
    scvi.settings.seed = seed
    adata = uge.datasets.load_baron(data_dir)
    orthologs = adata.uns["orthologs"]
    prior, test = _split(adata, seed)
    reference = pd.DataFrame(
        {
            "source_gene": "human:" + test["human"].astype(str),
            "target_gene": "mouse:" + test["mouse"].astype(str),
        }
    )
    n_mouse = int((adata.var["species"] == "mouse").sum())
    uge.tl.reactome(adata, labels_key="cell_type")
    maps = {
        "co-expression with prior anchors": uge.tl.map_genes_by_coexpression(
            adata, "human", "mouse", prior
        ),
        "cell-type reactome (direct)": uge.tl.map_genes_by_reactome(adata, "human", "mouse"),
    }
    for mode in ("orthologs", "both"):
        model = setup_model(
            adata.copy(), prior, labels_key="cell_type", condition_key=None, gene_alignment=mode
        )
        train(model, epochs)
        maps[f"UGE, gene_alignment={mode!r}"] = model.map_genes(
            "human", "mouse", genes=list(reference["source_gene"])
        )
        print(mode, model.gene_alignment_, flush=True)
        alignment = model.gene_alignment_
    text = (
        f"{command(__file__, '--study', 'baron')}: {adata.n_obs} cells, "
        f"{adata.n_vars} genes (2,000 highly variable per species), cell types of both "
        f"species as labels; of the {len(orthologs)} one-to-one orthologs among these genes "
        f"{len(prior)} (80%) are the prior and {len(test)} are held out. A hit: the "
        f"held-out human gene's mouse ortholog is among its top 10 of the {n_mouse} mouse "
        f"genes (random: {10 / n_mouse:.2%}). With `gene_alignment='both'` the calibrated "
        f"reactome threshold was {alignment.get('threshold', float('nan')):.3g} "
        f"({alignment['overridden']} prior pairs overridden, {alignment['added']} added)."
    )
    rows = [("random", f"{1 / n_mouse:.3f}", f"{10 / n_mouse:.3f}", "-")]
    for name, mapping in maps.items():
        r = uge.tl.evaluate_gene_mapping(mapping, reference, kind_key=None).loc["overall"]
        rows.append((name, f"{r['top1']:.3f}", f"{r['top10']:.3f}", f"{r['mrr']:.3f}"))
        print(rows[-1], flush=True)
    header = "method | top-1 | top-10 | MRR"
    title = "Baron pancreas: held-out human-mouse orthologs"
    return section(title, text, header, "lrrr", rows)


TOP = 1000  # target genes listed per source gene in the organ study (for the median rank)


def tissues(data_dir: str | None, epochs: int | None, seeds: list[int]) -> list[str]:
    """Mouse and human organ means (ENCODE, GTEx): held-out orthologs by organ profile."""
    rows = []
    for seed in seeds:
        scvi.settings.seed = seed
        adata = uge.datasets.load_tissue_atlas(data_dir)
        expressed = np.asarray((adata.X > 0).sum(0)).ravel() > 0
        adata = adata[:, expressed].copy()
        var = adata.var
        names = {sp: set(var.loc[var["species"] == sp, "gene"]) for sp in ("mouse", "human")}
        table = adata.uns["orthologs"]
        adata.uns["orthologs"] = table[
            table["mouse"].isin(names["mouse"]) & table["human"].isin(names["human"])
        ].reset_index(drop=True)
        n_pairs = len(adata.uns["orthologs"])
        prior, test = _split(adata, seed)
        reference = pd.DataFrame(
            {
                "source_gene": "human:" + test["human"].astype(str),
                "target_gene": "mouse:" + test["mouse"].astype(str),
            }
        )
        n_mouse = int((var["species"] == "mouse").sum())
        uge.tl.reactome(adata, labels_key="organ", min_samples=1)  # one mean per organ
        maps = {
            "organ-profile correlation (direct)": uge.tl.map_genes_by_reactome(
                adata, "human", "mouse", top_k=TOP, similarity="cosine"
            ),
            "organ reactome, response similarity (direct)": uge.tl.map_genes_by_reactome(
                adata, "human", "mouse", top_k=TOP
            ),
        }
        model = setup_model(adata.copy(), prior, labels_key="organ", condition_key=None)
        took = train(model, epochs)
        maps["UGE"] = model.map_genes(
            "human", "mouse", genes=list(reference["source_gene"]), top_k=TOP
        )
        rows.append(
            {
                "seed": seed,
                "method": "random",
                "top1": 1 / n_mouse,
                "top10": 10 / n_mouse,
                "median": n_mouse / 2,
            }
        )
        for name, mapping in maps.items():
            r = uge.tl.evaluate_gene_mapping(mapping, reference, kind_key=None).loc["overall"]
            rank = reference.merge(mapping, how="left")["rank"].fillna(np.inf)
            rows.append({"seed": seed, "method": name, **r.to_dict(), "median": rank.median()})
            print(seed, name, r.round(3).to_dict(), f"{took:.0f} s", flush=True)
    frame = pd.DataFrame(rows).groupby("method", sort=False)
    mean, lo, hi = (
        frame.mean(numeric_only=True),
        frame.min(numeric_only=True),
        frame.max(numeric_only=True),
    )
    organs = ", ".join(sorted(set(adata.obs["organ"].astype(str))))
    text = (
        f"{command(__file__, '--study', 'tissues', '--seeds', *seeds)}: "
        f"{(adata.obs['species'] == 'mouse').sum()} mouse (ENCODE) and "
        f"{(adata.obs['species'] == 'human').sum()} human (GTEx) organ means ({organs}; "
        "bone marrow mouse only, mouse cortex for the brain), log1p, genes expressed in at "
        f"least one organ ({n_mouse} mouse); of the {n_pairs} one-to-one pairs of these genes "
        f"80% are the prior and {len(test)} are held out (a new split per seed). A hit: the "
        "held-out human gene's mouse ortholog among its top 1 / top 10 of all mouse genes. "
        "Direct rows compare each gene's profile over the organs both atlases have (centred "
        f"per gene); UGE: defaults, labels = organs, about {took:.0f} s. Mean over seeds "
        f"(top-10 range in brackets); the median rank of the true partner over the held-out "
        f"genes (ranks beyond {TOP} are not listed)."
    )
    out = []
    for method, r in mean.iterrows():
        top10 = f"{r['top10']:.3f}"
        if len(seeds) > 1:
            top10 += f" ({lo.loc[method, 'top10']:.3f}-{hi.loc[method, 'top10']:.3f})"
        mrr = "-" if method == "random" else f"{r['mrr']:.3f}"
        median = f"{r['median']:.0f}" if np.isfinite(r["median"]) else f"> {TOP}"
        out.append((method, f"{r['top1']:.3f}", top10, mrr, median))
    header = "method | top-1 | top-10 | MRR | median rank of the partner"
    title = "Mouse and human organs: held-out orthologs by organ profile"
    return section(title, text, header, "lrrrr", out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    studies = ["simulated", "reactome", "baron", "baron-evidence", "tissues", "all"]
    parser.add_argument("--study", choices=studies, nargs="+", default=["all"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    lines: list[str] = []
    study = set(args.study)
    if study & {"simulated", "all"}:
        lines += [*simulated(args.seeds, args.epochs), ""]
    if study & {"reactome", "all"}:
        lines += [*reactome_only(args.seeds), ""]
    if study & {"baron", "all"}:
        lines += [*baron(args.data_dir, args.epochs), ""]
    if study & {"baron-evidence", "all"}:
        lines += [*baron_evidence(args.data_dir), ""]
    if study & {"tissues", "all"}:
        lines += tissues(args.data_dir, args.epochs, args.seeds)
    # one study writes its own file; several (or all) write gene_mapping.md
    name = "_" + args.study[0].replace("-", "_") if len(study - {"all"}) == 1 == len(study) else ""
    out = args.out or RESULTS / f"gene_mapping{name}.md"
    write(out, lines)


if __name__ == "__main__":
    main()
