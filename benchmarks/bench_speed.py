"""Training speed and peak memory of UGE configurations on this machine.

Trains each configuration on the default simulated study (1,000 samples: 500 mouse, 500
rat) in a fresh subprocess and reports training samples per second (after one warm-up
epoch) and the subprocess's peak resident memory. Writes ``benchmarks/results/speed.md``.

Usage::

    python benchmarks/bench_speed.py            # default and paper configurations
    python benchmarks/bench_speed.py --epochs 3
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

CONFIGS = {
    "default (D=64, 2 layers, 4 heads, 128 tokens)": {},
    "D=128, 2 layers, 4 heads, 128 tokens": {"d_model": 128},
    "default with 256 tokens": {"max_tokens": 256},
    "paper (D=256, 4 layers, 8 heads, 128 tokens)": {"d_model": 256, "n_layers": 4, "n_heads": 8},
}

CHILD = r"""
import json, resource, sys, time
import scvi, uge
from lightning.pytorch.callbacks import Callback

config, epochs = json.loads(sys.argv[1]), int(sys.argv[2])
scvi.settings.seed = 0
adata = uge.datasets.simulate_study(seed=0)
uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
model = uge.UGE(adata, orthologs=adata.uns["orthologs"], **config)


class Clock(Callback):
    def __init__(self):
        self.starts, self.ends = [], []

    def on_train_epoch_start(self, trainer, pl_module):
        self.starts.append(time.perf_counter())

    def on_train_epoch_end(self, trainer, pl_module):
        self.ends.append(time.perf_counter())


clock = Clock()
model.train(max_epochs=epochs + 1, enable_progress_bar=False, callbacks=[clock],
            check_val_every_n_epoch=10_000)
n_train = len(model.train_indices)
seconds = sum(e - s for s, e in zip(clock.starts[1:], clock.ends[1:]))
print(json.dumps({
    "samples_per_s": n_train * epochs / seconds,
    "s_per_epoch": seconds / epochs,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "parameters": sum(p.numel() for p in model.module.parameters()),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per configuration")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "speed.md"))
    args = parser.parse_args()
    rows = []
    for name, config in CONFIGS.items():
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(config), str(args.epochs)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, result, flush=True)
        rows.append((name, result))
    lines = [
        "## Training speed and memory",
        "",
        f"`python benchmarks/bench_speed.py --epochs {args.epochs}`: simulated study, 1,000 "
        f"samples (2,090 genes), batch size 128, {torch.get_num_threads()} torch threads, "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}.",
        "",
        "| configuration | parameters | samples/s | s/epoch | peak memory (MiB) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['parameters']:,} | {r['samples_per_s']:.0f} | "
            f"{r['s_per_epoch']:.1f} | {r['peak_rss_mib']:.0f} |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
