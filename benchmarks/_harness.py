"""What the benchmark scripts share: study set-up, training, the seed loop, tables, a child.

- :func:`simulate`, :func:`setup_model`, :func:`train`, :func:`train_timed`: a seeded
  simulated study, a registered UGE model (of a configuration in :data:`CONFIGS`, or any
  keyword arguments of :class:`uge.UGE`), its training;
- :func:`seeded`: the seed loop (scvi-tools' global seed set for each seed);
- :func:`command`, :func:`section`, :func:`write`: a markdown results table, headed by
  the command that writes it;
- :func:`run`: a function of a benchmark script in a fresh Python process (arguments and
  result through JSON): to measure a process's memory, to time with a given number of
  threads or another source tree, or for Lightning DDP, which starts its other processes
  by running the same command line again.

Heavy modules (torch, scvi-tools, uge) are imported where they are used, so that a child
imports only what its function needs. Scripts import this module as ``_harness`` (their
folder is first on ``sys.path``).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import anndata as ad

    import uge

RESULTS = Path(__file__).parent / "results"

CONFIGS: dict[str, dict[str, Any]] = {
    "default (D=64, 2 layers, 4 heads, 128 tokens)": {},
    "D=128, 2 layers, 4 heads, 128 tokens": {"d_model": 128},
    "default with 256 tokens": {"max_tokens": 256},
    "paper (D=256, 4 layers, 8 heads, 128 tokens)": {"d_model": 256, "n_layers": 4, "n_heads": 8},
    "default without the ortholog prior": {"orthologs": None},
}


# ------------------------------------------------------------------ study and training
def simulate(seed: int = 0, **kwargs: Any) -> ad.AnnData:
    """A simulated study, with scvi-tools' global seed (torch, numpy, random) set first.

    Parameters
    ----------
    seed
        ``scvi.settings.seed`` and the simulator's seed.
    **kwargs
        Other arguments of :func:`uge.datasets.simulate_study`.
    """
    import scvi

    import uge

    scvi.settings.seed = seed
    return uge.datasets.simulate_study(seed=seed, **kwargs)


def setup_model(
    adata: ad.AnnData,
    orthologs: Any,
    labels_key: str | None = "organ",
    condition_key: str | None = "drug",
    unlabeled_category: str | None = None,
    **config: Any,
) -> uge.UGE:
    """``UGE.setup_anndata`` then ``UGE(adata, orthologs=orthologs, **config)``.

    Parameters
    ----------
    adata
        The data to register (changed in place, as by ``setup_anndata``).
    orthologs
        The ortholog table (one column per species), or ``None``.
    labels_key, condition_key, unlabeled_category
        Arguments of :meth:`uge.UGE.setup_anndata`.
    **config
        Other arguments of :class:`uge.UGE` (e.g. a value of :data:`CONFIGS`).
    """
    import uge

    uge.UGE.setup_anndata(
        adata,
        labels_key=labels_key,
        condition_key=condition_key,
        unlabeled_category=unlabeled_category,
    )
    return uge.UGE(adata, orthologs=orthologs, **config)


def train(model: Any, epochs: int | None = None, **kwargs: Any) -> float:
    """``model.train(max_epochs=epochs, enable_progress_bar=False, **kwargs)``; its seconds.

    Parameters
    ----------
    model
        A UGE (or other scvi-tools) model.
    epochs
        ``max_epochs``; ``None``: the model's default.
    **kwargs
        Other arguments of ``model.train``.
    """
    start = time.perf_counter()
    model.train(max_epochs=epochs, enable_progress_bar=False, **kwargs)
    return time.perf_counter() - start


def train_timed(model: Any, epochs: int, **kwargs: Any) -> float:
    """Train ``epochs`` epochs after one warm-up epoch, without validation; their seconds.

    Parameters
    ----------
    model
        A UGE model.
    epochs
        Timed epochs (``epochs + 1`` are trained).
    **kwargs
        Other arguments of ``model.train``.
    """
    from lightning.pytorch.callbacks import Callback

    class Clock(Callback):
        def __init__(self) -> None:
            self.times: list[list[float]] = []

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self.times.append([time.perf_counter()])

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            self.times[-1].append(time.perf_counter())

    clock = Clock()
    train(model, epochs + 1, callbacks=[clock], check_val_every_n_epoch=10_000, **kwargs)
    return sum(end - start for start, end in clock.times[1:])


def seeded(seeds: Iterable[int]) -> Iterator[int]:
    """The seed loop: each seed in turn, with ``scvi.settings.seed`` set to it first.

    Parameters
    ----------
    seeds
        The seeds.
    """
    import scvi

    for seed in seeds:
        scvi.settings.seed = seed
        yield seed


# ------------------------------------------------------------------------------ tables
def command(script: str, *args: object) -> str:
    """The command line that writes a table, in backticks.

    Parameters
    ----------
    script
        The script's path (its ``__file__``).
    *args
        Its arguments (e.g. ``*sys.argv[1:]``).
    """
    return "`" + " ".join(["python", f"benchmarks/{Path(script).name}", *map(str, args)]) + "`"


def section(
    title: str | None,
    text: str,
    header: str | Sequence[str],
    align: str,
    rows: Iterable[Sequence[object]],
) -> list[str]:
    """A results table as markdown lines: ``## title``, a paragraph, the table.

    Parameters
    ----------
    title
        The heading; ``None`` for none (a further table of the same section).
    text
        The paragraph above the table, as a rule the reproducing :func:`command` first.
    header
        The column names (or one string, the names separated by ``" | "``).
    align
        One letter per column: ``l`` left, ``r`` right (numbers).
    rows
        The rows, one value per column (written with ``str``; an empty one as ``| |``).
    """
    if isinstance(header, str):
        header = header.split(" | ")
    if len(align) != len(header):
        raise ValueError(f"{len(header)} columns but align {align!r}")
    rule = {"l": "---", "r": "---:"}
    lines = [] if title is None else [f"## {title}", ""]
    return [
        *lines,
        text,
        "",
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(rule[a] for a in align) + " |",
        *(("| " + " | ".join(map(str, row)) + " |").replace("|  |", "| |") for row in rows),
    ]


def write(path: str | Path, lines: Sequence[str]) -> None:
    """Write a results file: the lines, one after another.

    Parameters
    ----------
    path
        The file (its folder is made if missing).
    lines
        Its lines (e.g. from :func:`section`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


# ------------------------------------------------------------------------- child runner
def run(
    fn: Callable[..., Any], *args: Any, threads: int | None = None, src: str | None = None
) -> Any:
    """``fn(*args)`` in a fresh Python process; what it returned.

    Parameters
    ----------
    fn
        A module-level function of a script in ``benchmarks/``. Its arguments and result
        go through JSON (paths as strings); a result of ``None`` is not written, so that
        only one of several processes (e.g. DDP's rank 0) answers.
    *args
        Its arguments.
    threads
        ``OMP_NUM_THREADS`` of the child; ``None`` leaves the environment's.
    src
        A source tree put first on ``PYTHONPATH`` (to time another version of uge).

    Returns
    -------
    Any
        The function's result, ``None`` when it returned none. Exits with the end of the
        child's error output if it fails.
    """
    module = Path(inspect.getfile(fn)).stem
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        argv = [module, fn.__name__, json.dumps(args, default=str), str(out)]
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *argv],
            capture_output=True,
            text=True,
            env=env,
        )
        if proc.returncode:
            sys.exit(f"{module}.{fn.__name__}{tuple(args)} failed:\n{proc.stderr[-3000:]}")
        return json.loads(out.read_text()) if out.exists() else None


def _child(module: str, name: str, args: str, out: str) -> None:
    """In the child: call ``module.name(*args)`` and write its result to ``out``."""
    result = getattr(importlib.import_module(module), name)(*json.loads(args))
    if result is not None:
        Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    _child(*sys.argv[1:])
