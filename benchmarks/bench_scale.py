"""Scale: setup memory against the number of cells, training speed against species.

Two measurements, each run in a fresh Python process, with one torch thread:

1. Peak memory of setup (``UGE.setup_anndata`` + ``UGE(adata, orthologs=...)``) on
   synthetic sparse counts shaped like single-cell data (two species, 4,000 genes each,
   about 10% of a cell's genes detected, five cell types, one-to-one orthologs), read
   from an h5ad in memory or backed (``read_h5ad(path, backed="r")``). Reported: the
   process's resident memory after reading the data and its peak after setup.
2. Training throughput (cells per second, after one warm-up epoch) on simulated studies
   with 2 and 4 species and the same total number of cells.

``--before DIR`` also runs both on the source tree in ``DIR`` (e.g. ``git archive <commit>
src | tar -x -C DIR``) for comparison. Writes ``benchmarks/results/scale.md``.

Usage::

    python benchmarks/bench_scale.py --cells 10000 50000 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _harness import RESULTS, command, run, section, setup_model, simulate, train_timed, write

GENES = 4000  # per species
TYPES = 5
NAMES = ("mouse", "rat", "human", "macaque", "dog", "pig", "cow", "chicken", "zebrafish", "frog")


def make(n_cells: int, n_genes: int, n_types: int, path: str) -> None:
    """Write synthetic sparse counts of two species with one-to-one orthologs to ``path``."""
    import anndata as ad
    import numpy as np
    import pandas as pd
    from scipy import sparse

    rng = np.random.default_rng(0)
    blocks, obs = [], []
    for s, species in enumerate(("mouse", "rat")):
        n = n_cells // 2
        base = rng.normal(0, 1.5, n_genes)
        types = rng.integers(n_types, size=n)
        rows, cols = [], []
        for t in range(n_types):
            cells = np.flatnonzero(types == t)
            logit = base + rng.normal(0, 1, n_genes) * (rng.random(n_genes) < 0.1)
            p = np.exp(logit) / np.exp(logit).sum()
            detected = rng.poisson(n_genes // 10, len(cells))
            rows.append(np.repeat(cells, detected))
            cols.append(rng.choice(n_genes, size=detected.sum(), p=p))
        rows, cols = np.concatenate(rows), np.concatenate(cols) + s * n_genes
        vals = rng.geometric(0.5, len(rows)).astype(np.float32)
        x = sparse.csr_matrix((vals, (rows, cols)), shape=(n, 2 * n_genes))
        x.sum_duplicates()
        blocks.append(x)
        obs.append(
            pd.DataFrame(
                {"species": species, "cell_type": [f"type{t}" for t in types]},
                index=[f"{species}{i}" for i in range(n)],
            )
        )
    var = pd.DataFrame(
        {
            "species": np.repeat(["mouse", "rat"], n_genes),
            "gene": [f"g{j}" for j in range(n_genes)] * 2,
        },
        index=[f"{s}:g{j}" for s in ("mouse", "rat") for j in range(n_genes)],
    )
    adata = ad.AnnData(sparse.vstack(blocks).tocsr(), obs=pd.concat(obs), var=var)
    adata.write_h5ad(path)


def setup_memory(path: str, mode: str) -> dict[str, float]:
    """Resident memory (MiB) after reading ``path`` (``mode``: memory or backed), and the
    peak after ``UGE.setup_anndata`` and ``UGE(adata, orthologs=...)``."""
    import resource

    import anndata as ad
    import pandas as pd
    import torch

    import uge

    torch.set_num_threads(1)
    adata = ad.read_h5ad(path, backed="r" if mode == "backed" else None)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    genes = [f"g{j}" for j in range(adata.n_vars // 2)]
    uge.UGE.setup_anndata(adata, labels_key="cell_type")
    uge.UGE(adata, orthologs=pd.DataFrame({"mouse": genes, "rat": genes}))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"loaded_mib": loaded, "peak_mib": peak}


def throughput(
    n_species: int,
    n_cells: int,
    n_genes: int,
    epochs: int,
    batch_size: int,
    precision: str,
    accelerator: str,
) -> dict[str, float]:
    """Training cells per second after a warm-up epoch on a simulated study, last loss."""
    import torch

    torch.set_num_threads(1)
    adata = simulate(
        0, n_samples_per_species=n_cells // n_species, species=NAMES[:n_species], n_genes=n_genes
    )
    orthologs = adata.uns["orthologs"] if n_species > 1 else None
    model = setup_model(adata, orthologs, gene_alignment="orthologs")
    kwargs = {} if precision == "32" else {"precision": precision}
    seconds = train_timed(model, epochs, batch_size=batch_size, accelerator=accelerator, **kwargs)
    loss = float(model.history["reconstruction_loss_train"].to_numpy().ravel()[-1])
    return {
        "cells_per_s": len(model.train_indices) * epochs / seconds,
        "genes": adata.n_vars,
        "loss": loss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cells",
        type=int,
        nargs="*",
        default=[10_000, 50_000, 100_000],
        help="setup sizes; none skips the setup measurement",
    )
    parser.add_argument("--before", help="source tree (its src/) of an earlier version")
    parser.add_argument("--before-cells", type=int, default=50_000, help="largest size for it")
    parser.add_argument("--train-cells", type=int, default=2000)
    parser.add_argument("--train-genes", type=int, default=2000, help="simulator n_genes")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--precision", nargs="+", default=["32"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--species", type=int, nargs="+", default=[2, 4], help="1 to 10")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--out", default=str(RESULTS / "scale.md"))
    args = parser.parse_args()
    before = None if args.before is None else str(Path(args.before) / "src")
    header = (
        "cells | h5ad (MiB) | in memory: after reading | in memory: peak | backed: after reading"
        " | backed: peak" + (" | before, in memory: peak" if before else "")
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.cells:
            path = Path(tmp) / f"cells{n}.h5ad"
            run(make, n, GENES, TYPES, path, threads=1)
            res = {mode: run(setup_memory, path, mode, threads=1) for mode in ("memory", "backed")}
            old = None
            if before and n <= args.before_cells:
                old = run(setup_memory, path, "memory", threads=1, src=before)
            print(n, res, old, flush=True)
            row = [f"{n:,}", f"{path.stat().st_size / 2**20:.0f}"]
            for m in ("memory", "backed"):
                row += [f"{res[m]['loaded_mib']:.0f}", f"{res[m]['peak_mib']:.0f}"]
            if before:
                row.append(f"{old['peak_mib']:.0f}" if old else "not run")
            rows.append(row)
            path.unlink()
    text = (
        f"Setup memory: synthetic sparse counts, 2 species × {GENES:,} genes, about 10% of "
        "a cell's genes detected, 5 cell types, one-to-one orthologs (gene alignment "
        "'both', from cell-type profiles); peak resident memory (MiB) of a fresh process "
        "after `UGE.setup_anndata` + `UGE(adata, orthologs=...)`, and after reading the "
        "data alone."
    )
    lines = ["## Scale", "", command(__file__, *sys.argv[1:])]
    if args.cells:
        lines += ["", *section(None, text, header, "rrrrrr" + "r" * bool(before), rows)]
    rows = []
    for precision in args.precision:
        for n_species in args.species:
            argv = [
                n_species,
                args.train_cells,
                args.train_genes,
                args.epochs,
                args.batch_size,
                precision,
                args.accelerator,
            ]
            res = run(throughput, *argv, threads=1)
            old = None
            if before and precision == "32":
                old = run(throughput, *argv, threads=1, src=before)
            print(n_species, precision, res, old, flush=True)
            row = [n_species, f"{res['genes']:,}", precision, f"{res['cells_per_s']:.0f}"]
            row.append(f"{res['loss']:.3f}")
            if before:
                row.append(f"{old['cells_per_s']:.0f}" if old else "")
            rows.append(row)
    text = (
        f"Training throughput: simulated studies (`simulate_study(n_genes={args.train_genes})`, "
        f"{args.train_cells:,} samples in all, split evenly over the species), default model, "
        f"batch size {args.batch_size}, gene alignment 'orthologs', cells per second over "
        f"{args.epochs} epochs after one warm-up epoch, one torch thread, accelerator "
        f"{args.accelerator!r}."
    )
    header = "species | genes in all | precision | cells/s | last training loss"
    header += " | before: cells/s" if before else ""
    lines += ["", *section(None, text, header, "rrlrr" + "r" * bool(before), rows)]
    write(args.out, lines)


if __name__ == "__main__":
    main()
