"""Data-parallel training (Lightning DDP, 2 CPU processes) against one process.

Trains UGE on the default simulated study (500 mouse + 500 rat samples) once in one
process and once with ``devices=2, strategy="ddp_find_unused_parameters_true"`` (gloo,
one torch thread per process), with the same epochs and the same optimiser steps: the DDP
run uses 16 samples per process, so that each step still averages 32 samples. Then
annotates rat organs from mouse labels (``model.predict_labels``) and compares with the
truth. Each run is a fresh Python process (``_harness.run``; Lightning starts the second
DDP process by running the same command again). Writes ``benchmarks/results/ddp.md``.

Usage::

    python benchmarks/bench_ddp.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import os

from _harness import RESULTS, command, run, section, setup_model, simulate, train, write

BATCH = 32


def child(mode: str, seed: int, epochs: int | None) -> dict[str, float] | None:
    """Train one model; its accuracy and seconds (``None`` in DDP's second process)."""
    import torch

    import uge

    torch.set_num_threads(1)
    adata = simulate(seed)
    model = setup_model(adata, adata.uns["orthologs"])
    ddp = mode == "ddp"
    kwargs = {"devices": 2, "strategy": "ddp_find_unused_parameters_true"} if ddp else {}
    if epochs is None:
        epochs = uge.model._uge.default_max_epochs(adata.n_obs, BATCH)
    seconds = train(
        model,
        epochs,
        batch_size=BATCH // 2 if ddp else BATCH,
        accelerator="cpu",
        enable_model_summary=False,
        **kwargs,
    )
    if int(os.environ.get("LOCAL_RANK", 0)):
        return None
    pred = model.predict_labels("mouse", "rat")
    rat = (adata.obs["species"] == "rat").to_numpy()
    truth = adata.obs.loc[rat, "organ"].astype(str)
    accuracy = float((pred["prediction"].astype(str) == truth).mean())
    return {"accuracy": accuracy, "seconds": seconds, "epochs": epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="default: the model's own")
    parser.add_argument("--out", default=str(RESULTS / "ddp.md"))
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        res = {}
        for mode in ("single", "ddp"):
            res[mode] = run(child, mode, seed, args.epochs, threads=1)
            print(seed, mode, res[mode], flush=True)
        one, ddp = res["single"], res["ddp"]
        rows.append(
            (
                seed,
                f"{one['accuracy']:.3f}",
                f"{ddp['accuracy']:.3f}",
                f"{ddp['accuracy'] - one['accuracy']:+.3f}",
                f"{one['seconds']:.0f}",
                f"{ddp['seconds']:.0f}",
            )
        )
    epochs = [] if args.epochs is None else ["--epochs", args.epochs]
    text = (
        f"{command(__file__, '--seeds', *args.seeds, *epochs)}: "
        "default simulated study (500 mouse + 500 rat samples) and model, trained in one "
        "process (32 samples per step) or with Lightning DDP in 2 CPU processes (gloo, "
        "16 samples per process and step: the same steps and epochs), one torch thread per "
        "process. Accuracy: rat organs annotated from mouse labels "
        "(`model.predict_labels('mouse', 'rat')`) against the truth (chance 0.1)."
    )
    header = (
        "seed | accuracy, 1 process | accuracy, DDP 2 processes | difference | train s, 1 process"
        " | train s, DDP"
    )
    write(args.out, section("Data-parallel training", text, header, "rrrrrr", rows))


if __name__ == "__main__":
    main()
