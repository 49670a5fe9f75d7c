"""Atlas scale: memory and speed from a backed h5ad, 10,000 to 1,000,000 cells, scVI beside.

Synthetic sparse counts shaped like single-cell data are written to an h5ad chunk by
chunk (never whole in memory): two species (half of the cells each) with ``--genes``
genes each, ``--detected`` genes detected per cell on average (Poisson), geometric
counts, ten cell types each up-regulating 10% of the genes, one-to-one orthologs between
the species. Each tool then runs in a fresh process on the file opened backed
(``read_h5ad(path, backed="r")``), with two torch threads (``_harness.run``):

1. set-up (UGE: ``UGE.setup_anndata(adata, labels_key="cell_type")`` and ``UGE(adata,
   orthologs=...)``; scVI: ``SCVI.setup_anndata(adata, batch_key="species")`` and
   ``SCVI(adata)``);
2. ``--steps`` training steps of ``--batch-size`` cells (``max_steps``, no validation);
3. latents of every cell (``get_latent_representation(batch_size=--latent-batch)``).

Reported per phase: seconds, cells per second, and the process's peak resident memory
so far (``ru_maxrss``; the Python process with torch and scvi-tools loaded is about
570 MiB of it). Files are kept in ``--data-dir`` for reruns. Writes
``benchmarks/results/atlas.md`` (``--update`` keeps its rows of other sizes and lists
every command that wrote them).

Usage::

    python benchmarks/bench_atlas.py --cells 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _harness import RESULTS, command, run, section, train, write


def make(n_cells: int, n_genes: int, detected: int, path: str) -> None:
    """Write the synthetic study to ``path``, chunk by chunk (never whole in memory)."""
    import anndata as ad
    import h5py
    import numpy as np
    import pandas as pd
    from anndata.io import sparse_dataset, write_elem
    from scipy import sparse

    chunk, n_types, species = 20_000, 10, ("mouse", "rat")
    rng = np.random.default_rng(0)
    # one gene program per species and cell type; the same genes respond in both (orthologs)
    base = rng.normal(0, 1.5, n_genes)
    up = (rng.random((n_types, n_genes)) < 0.1) * rng.uniform(1, 2.5, (n_types, n_genes))
    cdf = np.cumsum(np.exp(base + up), 1)
    cdf /= cdf[:, -1:]
    per_species = n_cells // 2
    obs, first = [], True
    for s, name in enumerate(species):
        for start in range(0, per_species, chunk):
            n = min(chunk, per_species - start)
            types = rng.integers(n_types, size=n)
            k = rng.poisson(detected, n)
            rows = np.repeat(np.arange(n), k)
            u = rng.random(len(rows))
            cols = np.empty(len(rows), dtype=np.int64)
            for t in range(n_types):
                sel = types[rows] == t
                cols[sel] = np.searchsorted(cdf[t], u[sel])
            x = sparse.coo_matrix(
                (rng.geometric(0.5, len(rows)).astype(np.float32), (rows, cols + s * n_genes)),
                shape=(n, 2 * n_genes),
            ).tocsr()
            x.sum_duplicates()
            x.sort_indices()
            obs.append(pd.DataFrame({"species": name, "cell_type": [f"type{t}" for t in types]}))
            if first:
                names = [f"g{j}" for j in range(n_genes)]
                var = pd.DataFrame(
                    {"species": np.repeat(species, n_genes), "gene": names * 2},
                    index=[f"{sp}:{g}" for sp in species for g in names],
                )
                cells = [f"c{i}" for i in range(n)]
                ad.AnnData(x, obs=obs[0].set_axis(cells), var=var).write_h5ad(path)
                first = False
            else:
                with h5py.File(path, "r+") as f:
                    sparse_dataset(f["X"]).append(x)
    obs = pd.concat(obs, ignore_index=True)
    obs.index = [f"c{i}" for i in range(len(obs))]
    obs = obs.astype({"species": "category", "cell_type": "category"})
    with h5py.File(path, "r+") as f:
        del f["obs"]
        write_elem(f, "obs", obs)


def measure(tool: str, path: str, steps: int, batch_size: int, latent_batch: int) -> dict:
    """Set-up, training and latents of one tool on the backed file: seconds and peaks."""
    import resource
    import time

    import anndata as ad
    import pandas as pd
    import scvi
    import torch

    torch.set_num_threads(2)
    out, clock = {}, time.perf_counter()

    def phase(name: str, n: int | None = None) -> None:
        nonlocal clock
        now = time.perf_counter()
        out[name] = {
            "s": now - clock,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        if n is not None:
            out[name]["cells_per_s"] = n / (now - clock)
        clock = now

    scvi.settings.seed = 0
    adata = ad.read_h5ad(path, backed="r")
    phase("read")
    if tool == "uge":
        import uge

        n = adata.n_vars // 2
        genes = [f"g{j}" for j in range(n)]
        uge.UGE.setup_anndata(adata, labels_key="cell_type")
        model = uge.UGE(adata, orthologs=pd.DataFrame({"mouse": genes, "rat": genes}))
    else:
        scvi.model.SCVI.setup_anndata(adata, batch_key="species")
        model = scvi.model.SCVI(adata)
    out["parameters"] = sum(p.numel() for p in model.module.parameters())
    phase("setup")
    epochs = -(-steps * batch_size // int(0.9 * adata.n_obs)) + 1  # max_steps ends training
    train(
        model,
        epochs,
        max_steps=steps,
        batch_size=batch_size,
        accelerator="cpu",
        check_val_every_n_epoch=10_000,
    )
    phase("train", steps * batch_size)
    z = model.get_latent_representation(batch_size=latent_batch)
    phase("latents", len(z))
    return out


def number(text: str) -> int:
    """``"1,000"`` -> 1000."""
    return int(text.replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--genes", type=int, nargs="+", default=[10_000], help="per species")
    parser.add_argument("--detected", type=int, default=1_000, help="mean genes per cell")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--latent-batch", type=int, default=512)
    parser.add_argument("--tools", nargs="+", default=["uge", "scvi"])
    parser.add_argument("--data-dir", default="/tmp/uge_atlas")
    parser.add_argument("--out", default=str(RESULTS / "atlas.md"))
    parser.add_argument(
        "--update", action="store_true", help="keep the rows of other sizes already in --out"
    )
    args = parser.parse_args()
    old = Path(args.out).read_text().splitlines() if args.update else []
    commands = [x for x in old if x.startswith("`python benchmarks/bench_atlas.py")]
    old_rows = [x[2:-2].split(" | ") for x in old if x.startswith("| ") and x[2:3].isdigit()]
    rows = {(r[0], r[1], r[3]): r for r in old_rows}
    data = Path(args.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    commands.append(command(__file__, *sys.argv[1:]))
    text = (
        "Synthetic sparse counts, 2 species with the genes per species of the table, about "
        f"{args.detected:,} genes detected per cell, 10 cell types, one-to-one "
        "orthologs, read backed (`read_h5ad(path, backed='r')`); a fresh process per tool "
        f"and size, 2 torch threads; training: {args.steps} steps of {args.batch_size} cells; "
        f"latents of all cells in minibatches of {args.latent_batch}. Peak: the process's "
        "peak resident memory (MiB) up to the end of that phase."
    )
    header = (
        "cells | genes per species | h5ad (GiB) | tool | parameters | setup s | setup peak"
        " | train cells/s | train peak | latents cells/s | latents s | latents peak"
    )
    for genes, n in ((g, n) for g in args.genes for n in args.cells):
        path = data / f"cells{n}_genes{genes}_det{args.detected}.h5ad"
        if not path.exists():
            tmp = path.with_suffix(".tmp.h5ad")
            run(make, n, genes, args.detected, tmp, threads=2)
            tmp.rename(path)
        size = path.stat().st_size / 2**30
        for tool in args.tools:
            res = run(
                measure, tool, path, args.steps, args.batch_size, args.latent_batch, threads=2
            )
            print(n, tool, json.dumps(res), flush=True)
            s, t, z = res["setup"], res["train"], res["latents"]
            name = "UGE" if tool == "uge" else "scVI"
            rows[(f"{n:,}", f"{genes:,}", name)] = [
                f"{n:,}",
                f"{genes:,}",
                f"{size:.2f}",
                name,
                f"{res['parameters']:,}",
                f"{s['s']:.0f}",
                f"{s['peak_mib']:.0f}",
                f"{t['cells_per_s']:.0f}",
                f"{t['peak_mib']:.0f}",
                f"{z['cells_per_s']:.0f}",
                f"{z['s']:.0f}",
                f"{z['peak_mib']:.0f}",
            ]
            order = sorted(rows, key=lambda k: (number(k[1]), number(k[0]), k[2]))
            lines = section(None, text, header, "rrrlrrrrrrrr", [rows[k] for k in order])
            write(args.out, ["## Atlas scale, backed h5ad", "", *commands, "", *lines])


if __name__ == "__main__":
    main()
