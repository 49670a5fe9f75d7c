"""Training speed and peak memory of UGE configurations on this machine.

Trains each configuration on the default simulated study (1,000 samples: 500 mouse, 500
rat) in a fresh process and reports training samples per second (after one warm-up
epoch) and the process's peak resident memory. Writes ``benchmarks/results/speed.md``.

Usage::

    python benchmarks/bench_speed.py            # all configurations
    python benchmarks/bench_speed.py --epochs 3
"""

from __future__ import annotations

import argparse
import platform

import torch
from _common import CONFIGS, RESULTS, run_configs, write

BODY = r"""
import resource, time
from lightning.pytorch.callbacks import Callback


class Clock(Callback):
    def __init__(self):
        self.starts, self.ends = [], []

    def on_train_epoch_start(self, trainer, pl_module):
        self.starts.append(time.perf_counter())

    def on_train_epoch_end(self, trainer, pl_module):
        self.ends.append(time.perf_counter())


clock = Clock()
model.train(max_epochs=arg + 1, enable_progress_bar=False, callbacks=[clock],
            check_val_every_n_epoch=10_000)
seconds = sum(e - s for s, e in zip(clock.starts[1:], clock.ends[1:]))
print(json.dumps({
    "samples_per_s": len(model.train_indices) * arg / seconds,
    "s_per_epoch": seconds / arg,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "parameters": sum(p.numel() for p in model.module.parameters()),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per configuration")
    parser.add_argument("--out", default=str(RESULTS / "speed.md"))
    args = parser.parse_args()
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
    names = [n for n in CONFIGS if "ortholog" not in n]
    for name, r in run_configs(BODY, args.epochs, names):
        lines.append(
            f"| {name} | {r['parameters']:,} | {r['samples_per_s']:.0f} | "
            f"{r['s_per_epoch']:.1f} | {r['peak_rss_mib']:.0f} |"
        )
    write(args.out, lines)


if __name__ == "__main__":
    main()
