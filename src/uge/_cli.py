"""Command line: ``uge demo``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    import scanpy as sc
    import scvi

    import uge
    from uge.tl import cross_species_knn_accuracy, gene_pair_retrieval

    scvi.settings.seed = args.seed
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n, genes, epochs = (150, 300, 40) if args.quick else (500, 1000, None)
    print(f"uge {uge.__version__} demo: simulated mouse + rat study ({n} samples per species)")
    adata = uge.datasets.simulate_study(n_samples_per_species=n, n_genes=genes, seed=args.seed)
    orthologs = adata.uns["orthologs"]
    print(
        f"  {adata.n_obs} samples x {adata.n_vars} genes "
        f"({', '.join(f'{s}: {c}' for s, c in adata.var['species'].value_counts().items())}); "
        f"{len(orthologs)} ortholog pairs"
    )
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    model = uge.UGE(adata, orthologs=orthologs)
    start = time.perf_counter()
    model.train(max_epochs=epochs, enable_progress_bar=sys.stdout.isatty() and not args.no_progress)
    seconds = time.perf_counter() - start
    n_epochs = len(model.history["reconstruction_loss_train"])
    print(
        f"trained {n_epochs} epochs in {seconds:.0f} s "
        f"({n_epochs * adata.n_obs * 0.9 / seconds:.0f} samples/s)"
    )

    adata.obsm["X_uge"] = model.get_latent_representation()
    result = {"seconds": round(seconds, 1), "epochs": n_epochs}
    acc, chance = cross_species_knn_accuracy(adata, "X_uge", "organ", "mouse", "rat")
    result["organ_accuracy_mouse_to_rat"] = acc
    result["organ_accuracy_random_chance"] = chance
    print(f"organ of rat samples from mouse labels (kNN in X_uge): {acc:.3f} (chance {chance:.3f})")

    truth = adata.uns["uge_truth"]["functional_map"]
    embedding = model.get_gene_embedding()
    for kind, note in (
        ("one_to_one", "in the ortholog prior"),
        ("rewired", "the ortholog prior names another gene"),
    ):
        pairs = truth.loc[truth["kind"] == kind, ["source_gene", "target_gene"]]
        top1, top10, n_mouse = gene_pair_retrieval(embedding, pairs, adata.var["species"])
        result[f"gene_top1_{kind}"], result[f"gene_top10_{kind}"] = top1, top10
        print(
            f"rat gene -> true mouse partner by gene embedding, {kind} ({len(pairs)} genes, "
            f"{note}): top-1 {top1:.3f}, top-10 {top10:.3f} (chance top-1 {1 / n_mouse:.4f})"
        )

    sc.pp.neighbors(adata, use_rep="X_uge")
    sc.tl.umap(adata, random_state=args.seed)
    fig = sc.pl.umap(adata, color=["species", "organ", "drug"], show=False, return_fig=True)
    fig.savefig(out / "umap_X_uge.png", dpi=100, bbox_inches="tight")
    del adata.uns["uge_truth"], adata.uns["orthologs"]
    adata.write_h5ad(out / "demo.h5ad")
    model.save(str(out / "model"), overwrite=True)
    (out / "report.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {out}/umap_X_uge.png, demo.h5ad, model/ and report.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``uge`` command."""
    parser = argparse.ArgumentParser(prog="uge", description="Universal Gene Embedding.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train UGE on a simulated mouse + rat study")
    demo.add_argument("--out", default="uge_demo", help="output directory (default uge_demo)")
    demo.add_argument("--quick", action="store_true", help="small data, few epochs")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bar (hidden anyway when output is not a terminal)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "scvi"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module="lightning")
    warnings.filterwarnings("ignore", message=".*treespec.*")
    return _demo(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
