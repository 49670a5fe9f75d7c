"""Shared by the benchmark scripts: configurations, the model set-up, a fresh process each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

RESULTS = Path(__file__).parent / "results"

CONFIGS = {
    "default (D=64, 2 layers, 4 heads, 128 tokens)": {},
    "D=128, 2 layers, 4 heads, 128 tokens": {"d_model": 128},
    "default with 256 tokens": {"max_tokens": 256},
    "paper (D=256, 4 layers, 8 heads, 128 tokens)": {"d_model": 256, "n_layers": 4, "n_heads": 8},
    "default without the ortholog prior": {"orthologs": None},
}

# the child's first lines: the default simulated study and a model of the given configuration
SETUP = r"""
import json, sys
import scvi, uge

config, arg = json.loads(sys.argv[1]), int(sys.argv[2])
scvi.settings.seed = 0
adata = uge.datasets.simulate_study(seed=0)
uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
model = uge.UGE(adata, **{"orthologs": adata.uns["orthologs"], **config})
"""


def run_configs(body: str, arg: int, names: list[str] | None = None) -> Iterator[tuple]:
    """Run ``SETUP + body`` once per configuration, each in a fresh Python process.

    ``body`` prints one JSON object as its last line; yields ``(name, result)``.
    """
    for name, config in CONFIGS.items():
        if names is not None and name not in names:
            continue
        proc = subprocess.run(
            [sys.executable, "-c", SETUP + body, json.dumps(config), str(arg)],
            capture_output=True,
            text=True,
        )
        if proc.returncode:
            sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        print(name, result, flush=True)
        yield name, result


def write(path: str | Path, lines: list[str]) -> None:
    """Write a results table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


def run_child(code: str, args: list, threads: int = 1, src: str | None = None) -> dict:
    """Run ``python -c code *args`` in a fresh process and parse its ``RESULT {json}`` line.

    ``threads`` sets ``OMP_NUM_THREADS``; ``src`` goes first on ``PYTHONPATH`` (to time
    another source tree). Exits with the child's error output if it fails.
    """
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env
    )
    if proc.returncode:
        sys.exit(f"failed ({args}):\n{proc.stderr[-3000:]}")
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    return json.loads(lines[-1].removeprefix("RESULT ")) if lines else {}
