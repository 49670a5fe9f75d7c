"""Which configuration learns most in a fixed CPU time budget (how the defaults were chosen).

Trains each configuration on the default simulated study (500 mouse + 500 rat samples)
for a fixed wall-clock budget (Lightning's ``max_time``) and reports the organ accuracy of
rat samples annotated from mouse labels by nearest neighbours in ``X_uge`` (random chance:
0.1), the same for the drug, the reconstruction loss on the held-out 10% of samples
(negative log-likelihood per gene; lower is better), and how far the rat samples sit
from the mouse samples (silhouette by species; near 0 means mixed). Writes
``benchmarks/results/budget.md``.

Usage::

    python benchmarks/bench_budget.py                 # 120 s per configuration
    python benchmarks/bench_budget.py --seconds 60
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CONFIGS = {
    "default (D=64, 2 layers, 4 heads, 128 tokens)": {},
    "D=128, 2 layers, 4 heads, 128 tokens": {"d_model": 128},
    "paper (D=256, 4 layers, 8 heads, 128 tokens)": {"d_model": 256, "n_layers": 4, "n_heads": 8},
}

CHILD = r"""
import json, sys
import scvi, uge
from sklearn.metrics import silhouette_score

config, seconds = json.loads(sys.argv[1]), int(sys.argv[2])
scvi.settings.seed = 0
adata = uge.datasets.simulate_study(seed=0)
uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
model = uge.UGE(adata, orthologs=adata.uns["orthologs"], **config)
model.train(max_epochs=1000, max_time={"seconds": seconds}, check_val_every_n_epoch=1,
            enable_progress_bar=False)
adata.obsm["X_uge"] = model.get_latent_representation()
acc, chance = uge.tl.cross_species_knn_accuracy(adata, "X_uge", "organ", "mouse", "rat")
drug, _ = uge.tl.cross_species_knn_accuracy(adata, "X_uge", "drug", "mouse", "rat")
print(json.dumps({
    "epochs": len(model.history["reconstruction_loss_train"]),
    "accuracy": acc,
    "chance": chance,
    "drug_accuracy": drug,
    "validation_nll": float(model.history["reconstruction_loss_validation"].iloc[-1, 0]),
    "species_silhouette": float(silhouette_score(adata.obsm["X_uge"], adata.obs["species"])),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120, help="training budget per config")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "budget.md"))
    args = parser.parse_args()
    lines = [
        "## Quality within a training budget",
        "",
        f"`python benchmarks/bench_budget.py --seconds {args.seconds}`: simulated study "
        "(500 mouse + 500 rat samples), each configuration trained for "
        f"{args.seconds} s of wall-clock time on this machine, seed 0.",
        "",
        "| configuration | epochs in budget | validation NLL per gene | organ accuracy, rat "
        "from mouse (chance) | drug accuracy, rat from mouse | species silhouette |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, config in CONFIGS.items():
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(config), str(args.seconds)],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, r, flush=True)
        lines.append(
            f"| {name} | {r['epochs']} | {r['validation_nll']:.3f} | {r['accuracy']:.3f} "
            f"({r['chance']:.3f}) | {r['drug_accuracy']:.3f} | {r['species_silhouette']:.3f} |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
