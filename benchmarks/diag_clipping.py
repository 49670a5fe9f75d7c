"""Why training clips gradients: long training on tiny data, with and without clipping.

Brawand bulk organs (mouse, human, opossum, chicken; only mouse organs given), default
model, ``--epochs`` epochs, one torch thread. Prints, per seed and setting, organ accuracy
of each species from mouse (classifier and kNN), the training losses every 25 epochs
and the mean latent norm. Used for the gradient-clipping default (``docs/benchmarks.md``).

Usage: ``python benchmarks/diag_clipping.py --data-dir ../shared/data --epochs 250``.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch
from _harness import seeded, setup_model, train

import uge


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=250)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    torch.set_num_threads(1)
    species = ["mouse", "human", "opossum", "chicken"]
    full = uge.datasets.load_brawand(args.data_dir, species=species)
    for clip in (None, 1.0):
        for seed in seeded(args.seeds):
            adata = full.copy()
            mouse = adata.obs["species"] == "mouse"
            adata.obs["organ_ref"] = adata.obs["organ"].astype(str).where(mouse, "Unknown")
            model = setup_model(
                adata,
                adata.uns["orthologs"],
                labels_key="organ_ref",
                condition_key=None,
                unlabeled_category="Unknown",
            )
            train(model, args.epochs, gradient_clip_val=clip)
            acc = []
            for target in species[1:]:
                for method in ("classifier", "knn"):
                    pred = model.predict_labels("mouse", target, method=method)
                    truth = adata.obs.loc[pred.index, "organ"].astype(str)
                    hit = float((pred["prediction"].astype(str) == truth).mean())
                    acc.append(f"{target} {method} {hit:.3f}")
            z = model.get_latent_representation()
            print(f"clip {clip}, seed {seed}: " + ", ".join(acc), flush=True)
            print(f"  mean latent norm {np.linalg.norm(z, axis=1).mean():.1f}")
            keys = ["reconstruction_loss_train", "latent_alignment_train", "classification_train"]
            history = pd.concat([model.history[k] for k in keys], axis=1)
            print(history.iloc[::25].round(3).to_string(), flush=True)


if __name__ == "__main__":
    main()
