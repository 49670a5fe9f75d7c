"""Data-parallel training (Lightning DDP, 2 CPU processes) against one process.

Trains UGE on the default simulated study (500 mouse + 500 rat samples) once in one
process and once with ``devices=2, strategy="ddp_find_unused_parameters_true"`` (gloo,
one torch thread per process), with the same epochs and the same optimiser steps: the DDP
run uses 16 samples per process, so that each step still averages 32 samples. Then
annotates rat organs from mouse labels (``model.predict_labels``) and compares with the
truth. Each run is a fresh Python process (this script with ``--child``; Lightning starts
the second DDP process by running the same command again). Writes
``benchmarks/results/ddp.md``.

Usage::

    python benchmarks/bench_ddp.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import RESULTS, write

BATCH = 32


def child(mode: str, seed: int, epochs: int | None) -> None:
    """Train one model and print its result (rank 0 only) on a line ``RESULT {json}``."""
    import scvi
    import torch

    import uge

    torch.set_num_threads(1)
    scvi.settings.seed = seed
    adata = uge.datasets.simulate_study(seed=seed)
    uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    model = uge.UGE(adata, orthologs=adata.uns["orthologs"])
    ddp = mode == "ddp"
    kwargs = {"devices": 2, "strategy": "ddp_find_unused_parameters_true"} if ddp else {}
    if epochs is None:
        epochs = uge.model._uge.default_max_epochs(adata.n_obs, BATCH)
    start = time.perf_counter()
    model.train(
        max_epochs=epochs,
        batch_size=BATCH // 2 if ddp else BATCH,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )
    seconds = time.perf_counter() - start
    if int(os.environ.get("LOCAL_RANK", 0)):
        return
    pred = model.predict_labels("mouse", "rat")
    rat = (adata.obs["species"] == "rat").to_numpy()
    truth = adata.obs.loc[rat, "organ"].astype(str)
    accuracy = float((pred["prediction"].astype(str) == truth).mean())
    result = {"accuracy": accuracy, "seconds": seconds, "epochs": epochs}
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the model's own")
    parser.add_argument("--out", default=str(RESULTS / "ddp.md"))
    parser.add_argument("--child", nargs=2, metavar=("MODE", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.epochs)
        return
    epochs = "" if args.epochs is None else f" --epochs {args.epochs}"
    lines = [
        "## Data-parallel training",
        "",
        f"`python benchmarks/bench_ddp.py --seeds {' '.join(map(str, args.seeds))}{epochs}`: "
        "default simulated study (500 mouse + 500 rat samples) and model, trained in one "
        "process (32 samples per step) or with Lightning DDP in 2 CPU processes (gloo, "
        "16 samples per process and step: the same steps and epochs), one torch thread per "
        "process. Accuracy: rat organs annotated from mouse labels "
        "(`model.predict_labels('mouse', 'rat')`) against the truth (chance 0.1).",
        "",
        "| seed | accuracy, 1 process | accuracy, DDP 2 processes | difference "
        "| train s, 1 process | train s, DDP |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    extra = [] if args.epochs is None else ["--epochs", str(args.epochs)]
    for seed in args.seeds:
        res = {}
        for mode in ("single", "ddp"):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(seed), *extra],
                capture_output=True,
                text=True,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
            if proc.returncode:
                sys.exit(f"{mode} seed {seed} failed:\n{proc.stderr[-3000:]}")
            line = [r for r in proc.stdout.splitlines() if r.startswith("RESULT ")][-1]
            res[mode] = json.loads(line.removeprefix("RESULT "))
            print(seed, mode, res[mode], flush=True)
        one, ddp = res["single"], res["ddp"]
        lines.append(
            f"| {seed} | {one['accuracy']:.3f} | {ddp['accuracy']:.3f} | "
            f"{ddp['accuracy'] - one['accuracy']:+.3f} | {one['seconds']:.0f} | "
            f"{ddp['seconds']:.0f} |"
        )
    write(args.out, lines)


if __name__ == "__main__":
    main()
