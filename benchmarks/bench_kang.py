"""Perturbation of a held-out cell type on Kang IFN-beta PBMCs, scGen's protocol.

Each of the 7 cell types in turn: its stimulated cells are held out, the model is trained
on all other cells, and the held-out type's control cells are predicted under
``"stimulated"`` (:meth:`uge.UGE.predict_perturbation`, the shift measured within the
other cell types of the same species, as scGen does). Score: R² (squared Pearson
correlation, scGen's measure) of the predicted mean expression against the measured
stimulated mean, over all genes and over the top-100 genes by |stimulated - control| of
the held-out type. Rows in the same run: no change (the held-out type's control cells),
the additive shift (stimulated minus control mean over all other cells, pooled, and the
mean of the other types' shifts), UGE, and scGen (``pertpy.tl.Scgen``) where pertpy is
installed (``pip install -e ".[bench]"``).

Usage: ``python benchmarks/bench_kang.py --data-dir ../shared/data --seeds 0 1 2``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from _harness import RESULTS, command, section, seeded, write

import uge

CONDITION, STIM, CONTROL, LABEL = "condition", "stimulated", "control", "cell_type"


def mean_of(adata: ad.AnnData, mask: np.ndarray) -> np.ndarray:
    """Mean expression of the masked cells."""
    return np.asarray(adata.X[np.asarray(mask)].mean(0)).ravel()


class Case:
    """One held-out cell type: the training cells, the truth and the scores.

    Parameters
    ----------
    kang
        :func:`uge.datasets.load_kang`'s AnnData.
    held_out
        The cell type whose stimulated cells are held out.
    """

    def __init__(self, kang: ad.AnnData, held_out: str) -> None:
        obs = kang.obs
        held = ((obs[LABEL] == held_out) & (obs[CONDITION] == STIM)).to_numpy()
        self.held_out = held_out
        self.truth = mean_of(kang, held)
        self.control = mean_of(kang, (obs[LABEL] == held_out) & (obs[CONDITION] == CONTROL))
        self.deg = np.argsort(-np.abs(self.truth - self.control))[:100]
        self.train = kang[~held].copy()

    def r2(self, pred: np.ndarray) -> tuple[float, float]:
        """R² of a predicted mean over all genes and over the top-100 DEGs."""
        r_all = np.corrcoef(pred, self.truth)[0, 1]
        r_deg = np.corrcoef(pred[self.deg], self.truth[self.deg])[0, 1]
        return float(r_all**2), float(r_deg**2)

    def baselines(self) -> dict[str, tuple[float, float]]:
        """No change and the additive shifts."""
        obs = self.train.obs
        others = obs[LABEL] != self.held_out
        pooled = mean_of(self.train, others & (obs[CONDITION] == STIM)) - mean_of(
            self.train, others & (obs[CONDITION] == CONTROL)
        )
        shifts = [
            mean_of(self.train, (obs[LABEL] == t) & (obs[CONDITION] == STIM))
            - mean_of(self.train, (obs[LABEL] == t) & (obs[CONDITION] == CONTROL))
            for t in obs[LABEL].unique()
            if t != self.held_out
        ]
        return {
            "no change": self.r2(self.control),
            "additive, pooled shift": self.r2(self.control + pooled),
            "additive, mean of per-type shifts": self.r2(self.control + np.mean(shifts, 0)),
        }

    def uge(
        self,
        epochs: int | None,
        train_kwargs: dict | None = None,
        fixed_scale: bool = False,
        **model_kwargs: Any,
    ) -> dict[str, tuple[float, ...]]:
        """UGE's prediction (decoded shifted latent), control plus the decoded difference,
        and the reconstruction R² of the held-out type's control mean.

        ``fixed_scale`` keeps the Gaussian scales at their start (one value for all genes:
        a mean squared error) instead of learning one per gene.
        """
        adata = self.train.copy()
        uge.UGE.setup_anndata(adata, labels_key=LABEL, condition_key=CONDITION)
        model = uge.UGE(adata, **model_kwargs)
        if fixed_scale:
            model.module.px_r.requires_grad_(False)
        start = time.perf_counter()
        model.train(max_epochs=epochs, enable_progress_bar=False, **(train_kwargs or {}))
        took = time.perf_counter() - start
        pred = model.predict_perturbation(STIM, target_species="human", labels=[self.held_out])
        rows = adata.obs_names.get_indexer(pred.obs_names)
        recon = model.get_reconstructed_expression(indices=rows).to_numpy().mean(0)
        predicted = np.asarray(pred.X.mean(0)).ravel()
        return {
            "UGE": self.r2(predicted),
            "UGE, control + decoded difference": self.r2(self.control + predicted - recon),
            "reconstruction": (float(np.corrcoef(recon, self.control)[0, 1] ** 2),),
            "seconds": (took,),
        }

    def scgen(self, epochs: int) -> dict[str, tuple[float, float]]:
        """pertpy's scGen, defaults, early stopping as its tutorial (patience 25)."""
        import pertpy as pt

        adata = self.train.copy()
        pt.tl.Scgen.setup_anndata(adata, batch_key=CONDITION, labels_key=LABEL)
        model = pt.tl.Scgen(adata)
        model.train(
            max_epochs=epochs,
            batch_size=32,
            early_stopping=True,
            early_stopping_patience=25,
            enable_progress_bar=False,
        )
        pred, _ = model.predict(ctrl_key=CONTROL, stim_key=STIM, celltype_to_predict=self.held_out)
        return {"scGen (pertpy)": self.r2(np.asarray(pred.X.mean(0)).ravel())}


def scgen_status() -> str | None:
    """``None`` when pertpy imports, else the error that stops it."""
    try:
        import pertpy  # noqa: F401
    except Exception as err:  # any import failure is reported as it is
        return f"{type(err).__name__}: {err}"
    return None


def pertpy_version() -> str:
    """pertpy's version."""
    import pertpy

    return pertpy.__version__


def fmt(values: list[tuple[float, ...]]) -> str:
    """Mean over seeds of the R² pair (range of the first in brackets when several)."""
    arr = np.asarray(values)
    text = " / ".join(f"{m:.3f}" for m in arr.mean(0))
    if len(arr) > 1:
        text += f" ({arr[:, 0].min():.3f}-{arr[:, 0].max():.3f})"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--scgen-epochs", type=int, default=100)
    parser.add_argument(
        "--scgen-seeds", type=int, nargs="*", default=[0], help="scGen's seeds (6 min each)"
    )
    parser.add_argument("--cell-types", nargs="+", default=None, help="default: all 7")
    parser.add_argument("--out", default=str(RESULTS / "kang.md"))
    args = parser.parse_args()
    kang = uge.datasets.load_kang(args.data_dir)
    types = args.cell_types or list(kang.obs[LABEL].cat.categories)
    missing = scgen_status()
    results: dict[str, dict[str, list]] = {}
    for held_out in types:
        case = Case(kang, held_out)
        res = results[held_out] = {k: [v] for k, v in case.baselines().items()}
        for seed in seeded(args.seeds):
            runs = [case.uge(args.epochs)]
            if missing is None and seed in args.scgen_seeds:
                runs.append(case.scgen(args.scgen_epochs))
            for run in runs:
                for k, v in run.items():
                    res.setdefault(k, []).append(v)
            print(held_out, seed, {k: v[-1] for k, v in res.items()}, flush=True)
    frame = pd.DataFrame(
        {t: {k: np.mean(v, 0) for k, v in r.items()} for t, r in results.items()}
    ).T
    methods = [m for m in results[types[0]] if m not in ("reconstruction", "seconds")]
    rows = [(t, *(fmt(results[t][m]) for m in methods)) for t in types]
    rows.append(("**mean**", *(fmt([frame.loc[t, m] for t in types]) for m in methods)))
    peer = (
        f"scGen: `pertpy.tl.Scgen` {pertpy_version()}, defaults, {args.scgen_epochs} epochs "
        f"at most, batch 32, early stopping (patience 25), seeds "
        f"{', '.join(map(str, args.scgen_seeds))}."
        if missing is None
        else f"scGen not run: pertpy does not import here ({missing}); its published "
        "numbers on the full Kang training set: CD4T 0.971 / 0.973, mean of 7 types "
        "0.949 / 0.936 (scgen-reproducibility, Fig. 2)."
    )
    recon = np.mean([np.mean(results[t]["reconstruction"]) for t in types])
    seconds = np.mean([np.mean(results[t]["seconds"]) for t in types])
    text = (
        f"{command(__file__, *sys.argv[1:])}: {kang.n_obs} cells x {kang.n_vars} genes "
        f"(scGen's validation file), one cell type's stimulated cells held out in turn. Each "
        "cell: R² over all genes / over the held-out type's top-100 DEGs (mean over seeds, "
        f"range of the first over seeds in brackets); the mean row averages the cell types "
        f"(range over cell types). UGE: defaults, {args.epochs} epochs, seeds "
        f"{', '.join(map(str, args.seeds))}, about {seconds:.0f} s each; its reconstruction "
        f"of the held-out type's control mean has R² {recon:.3f} on average. {peer}"
    )
    header = ["held out", *methods]
    title = "Kang IFN-beta, a held-out cell type"
    write(args.out, section(title, text, header, "l" * len(header), rows))


if __name__ == "__main__":
    main()
