"""Command line: ``uge demo``."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from uge._demo import run

    progress = sys.stdout.isatty() and not args.no_progress
    run(Path(args.out), quick=args.quick, seed=args.seed, progress=progress)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``uge`` command."""
    parser = argparse.ArgumentParser(prog="uge", description="Universal Gene Embedding.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="the UGE paper's experiment on a simulated mouse + rat study"
    )
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
