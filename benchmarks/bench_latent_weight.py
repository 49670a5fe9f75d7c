"""How reliably the species align for each latent-alignment weight, over seeds.

Trains the default model on a small simulated study (80 mouse + 80 rat samples, two
organs, control and one drug, with the ortholog prior) for 40 epochs, once per seed and
``latent_align_weight``, and reports the organ accuracy of rat samples annotated from
mouse labels by nearest neighbours in ``X_uge`` (random chance 0.5). A run with accuracy
below 0.9 counts as failed alignment. Writes ``benchmarks/results/latent_weight.md``.

Usage::

    python benchmarks/bench_latent_weight.py --seeds 8
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
from _harness import RESULTS, command, section, seeded, setup_model, simulate, train, write

import uge

WEIGHTS = (0.0, 0.1, 0.3, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--out", default=str(RESULTS / "latent_weight.md"))
    args = parser.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    study = simulate(
        0, n_samples_per_species=80, organs=("brain", "liver"), drugs=("tetracycline",), n_genes=150
    )
    rows = []
    for weight in WEIGHTS:
        accuracies = []
        for _ in seeded(range(args.seeds)):
            adata = study.copy()
            model = setup_model(
                adata,
                adata.uns["orthologs"],
                d_model=32,
                n_heads=2,
                max_tokens=64,
                latent_align_weight=weight,
            )
            train(model, 40, batch_size=64)
            adata.obsm["X_uge"] = model.get_latent_representation()
            uge.tl.transfer_labels(adata, "organ", "mouse", "rat", n_neighbors=5)
            acc = uge.tl.annotation_scores(adata).loc["overall", "accuracy"]
            accuracies.append(acc)
        acc = np.array(accuracies)
        print(weight, acc.round(3), flush=True)
        rows.append(
            (
                weight,
                f"{(acc < 0.9).sum()} of {len(acc)}",
                f"{np.median(acc):.3f}",
                f"{acc.min():.3f}",
            )
        )
    text = (
        f"{command(__file__, '--seeds', args.seeds)}: simulated study "
        "with 80 mouse + 80 rat samples, two organs, control and one drug, ortholog prior; "
        "default model with d_model=32, 2 heads, 64 tokens; 40 epochs at batch size 64; "
        "organ accuracy of rat samples from mouse labels (5-NN in `X_uge`, chance 0.5)."
    )
    header = "latent_align_weight | runs with accuracy < 0.9 | median accuracy | minimum"
    title = "Latent-alignment weight and reliability"
    write(args.out, section(title, text, header, "rrrr", rows))


if __name__ == "__main__":
    main()
