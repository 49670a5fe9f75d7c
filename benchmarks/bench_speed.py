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
from typing import Any

import torch
from _harness import (
    CONFIGS,
    RESULTS,
    command,
    run,
    section,
    setup_model,
    simulate,
    train_timed,
    write,
)


def child(config: dict[str, Any], epochs: int) -> dict[str, float]:
    """Time ``epochs`` epochs of one configuration on the default study (seed 0)."""
    import resource

    adata = simulate(0)
    model = setup_model(adata, **{"orthologs": adata.uns["orthologs"], **config})
    seconds = train_timed(model, epochs)
    return {
        "samples_per_s": len(model.train_indices) * epochs / seconds,
        "s_per_epoch": seconds / epochs,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parameters": sum(p.numel() for p in model.module.parameters()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per configuration")
    parser.add_argument("--out", default=str(RESULTS / "speed.md"))
    args = parser.parse_args()
    rows = []
    for name in [n for n in CONFIGS if "ortholog" not in n]:
        r = run(child, CONFIGS[name], args.epochs)
        print(name, r, flush=True)
        rows.append(
            (
                name,
                f"{r['parameters']:,}",
                f"{r['samples_per_s']:.0f}",
                f"{r['s_per_epoch']:.1f}",
                f"{r['peak_rss_mib']:.0f}",
            )
        )
    text = (
        f"{command(__file__, '--epochs', args.epochs)}: simulated study, 1,000 "
        f"samples (2,090 genes), batch size 32 (the default), "
        f"{torch.get_num_threads()} torch threads, "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}."
    )
    header = "configuration | parameters | samples/s | s/epoch | peak memory (MiB)"
    title = "Training speed and memory"
    write(args.out, section(title, text, header, "lrrrr", rows))


if __name__ == "__main__":
    main()
