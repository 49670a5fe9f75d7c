"""Which configuration learns most in a fixed CPU time budget (how the defaults were chosen).

Trains each configuration on the default simulated study (500 mouse + 500 rat samples)
for a fixed wall-clock budget (Lightning's ``max_time``) and reports the organ accuracy of
rat samples annotated from mouse labels by nearest neighbours in ``X_uge`` (random chance:
0.1), the same for the drug, the reconstruction loss on the held-out 10% of samples
(negative log-likelihood per gene; lower is better), and how far the rat samples sit
from the mouse samples (silhouette by species; near 0 means mixed). Each configuration
trains in a fresh process. Writes ``benchmarks/results/budget.md``.

Usage::

    python benchmarks/bench_budget.py                 # 120 s per configuration
    python benchmarks/bench_budget.py --seconds 60
"""

from __future__ import annotations

import argparse
from typing import Any

from _harness import CONFIGS, RESULTS, command, run, section, setup_model, simulate, train, write

NAMES = [n for n in CONFIGS if "256 tokens" not in n]


def child(config: dict[str, Any], seconds: int) -> dict[str, float]:
    """Train one configuration for ``seconds`` on the default study (seed 0); its scores."""
    from sklearn.metrics import silhouette_score

    import uge

    adata = simulate(0)
    model = setup_model(adata, **{"orthologs": adata.uns["orthologs"], **config})
    train(model, 1000, max_time={"seconds": seconds}, check_val_every_n_epoch=1)
    adata.obsm["X_uge"] = model.get_latent_representation()
    uge.tl.transfer_labels(adata, "organ", "mouse", "rat")
    acc, chance = uge.tl.annotation_scores(adata).loc["overall", ["accuracy", "chance_accuracy"]]
    uge.tl.transfer_labels(adata, "drug", "mouse", "rat", key_added="uge_drug")
    drug = uge.tl.annotation_scores(adata, "uge_drug").loc["overall", "accuracy"]
    return {
        "epochs": len(model.history["reconstruction_loss_train"]),
        "accuracy": float(acc),
        "chance": float(chance),
        "drug_accuracy": float(drug),
        "validation_nll": float(model.history["reconstruction_loss_validation"].iloc[-1, 0]),
        "species_silhouette": float(silhouette_score(adata.obsm["X_uge"], adata.obs["species"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120, help="training budget per config")
    parser.add_argument("--out", default=str(RESULTS / "budget.md"))
    args = parser.parse_args()
    rows = []
    for name in NAMES:
        r = run(child, CONFIGS[name], args.seconds)
        print(name, r, flush=True)
        rows.append(
            (
                name,
                r["epochs"],
                f"{r['validation_nll']:.3f}",
                f"{r['accuracy']:.3f} ({r['chance']:.3f})",
                f"{r['drug_accuracy']:.3f}",
                f"{r['species_silhouette']:.3f}",
            )
        )
    text = (
        f"{command(__file__, '--seconds', args.seconds)}: simulated study "
        "(500 mouse + 500 rat samples), each configuration trained for "
        f"{args.seconds} s of wall-clock time on this machine, seed 0."
    )
    header = (
        "configuration | epochs in budget | validation NLL per gene"
        " | organ accuracy, rat from mouse (chance) | drug accuracy, rat from mouse"
        " | species silhouette"
    )
    title = "Quality within a training budget"
    write(args.out, section(title, text, header, "lrrrrr", rows))


if __name__ == "__main__":
    main()
