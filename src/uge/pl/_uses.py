"""Plots of the paper's other uses: reactome prediction, experiment suggestions, gene shifts."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ._utils import finish


def reactome_prediction(
    predicted: pd.DataFrame,
    measured: pd.DataFrame,
    columns: list[str] | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
):
    """Predicted against measured responses, one panel per ``"label|condition"`` column.

    Parameters
    ----------
    predicted
        Genes × columns, e.g. from :meth:`uge.UGE.predict_reactome` or
        :func:`uge.tl.predict_reactome`.
    measured
        Genes × columns of measured responses (e.g. :func:`uge.tl.reactome` of samples the
        prediction never saw); genes and columns are matched by name.
    columns
        Columns to draw; ``None`` for all that both tables hold.
    show, save
        As in :func:`uge.pl.annotation_accuracy`.

    Returns
    -------
    matplotlib.figure.Figure or None
        The figure (Pearson r over genes in each title), unless it was shown.
    """
    common = [c for c in predicted.columns if c in measured.columns]
    columns = common if columns is None else list(columns)
    missing = [c for c in columns if c not in common]
    if missing or not columns:
        raise ValueError(
            f"Columns {missing or columns} are not in both tables; both hold {common}."
        )
    genes = predicted.index.intersection(measured.index)
    if len(genes) < 2:
        raise ValueError("predicted and measured share fewer than 2 genes (index names).")
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.2), squeeze=False)
    for ax, c in zip(axes[0], columns, strict=True):
        x, y = measured.loc[genes, c].to_numpy(), predicted.loc[genes, c].to_numpy()
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=6, alpha=0.6, color="tab:blue", linewidths=0)
        lim = np.abs(np.r_[x[ok], y[ok]]).max() * 1.05 if ok.any() else 1.0
        ax.plot([-lim, lim], [-lim, lim], color="0.6", lw=0.8)
        r = np.corrcoef(x[ok], y[ok])[0, 1] if ok.sum() > 1 else np.nan
        ax.set_title(f"{c}\nPearson r {r:.3f} ({ok.sum()} genes)", fontsize=9)
        ax.set_xlabel("measured response")
    axes[0, 0].set_ylabel("predicted response")
    fig.tight_layout()
    return fig if finish(fig, "reactome_prediction", show, save) else None


def experiment_suggestions(
    suggestions: pd.DataFrame,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> Axes | None:
    """The suggested experiments as bars of their expected error, best first.

    Parameters
    ----------
    suggestions
        From :func:`uge.tl.suggest_experiments` or :meth:`uge.UGE.suggest_experiments`;
        a ``measured_in`` column, when present, is written next to each bar.
    ax, show, save
        As in :func:`uge.pl.annotation_accuracy`.

    Returns
    -------
    matplotlib.axes.Axes or None
        The axes, unless the figure was shown.
    """
    need = {"label", "condition", "expected_error"}
    if not need <= set(suggestions.columns):
        raise ValueError(
            f"suggestions needs the columns {sorted(need)} of uge.tl.suggest_experiments; "
            f"got {list(suggestions.columns)}."
        )
    rows = suggestions.iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 0.35 * len(rows) + 1.2))
    names = [f"{a} × {c}" for a, c in zip(rows["label"], rows["condition"], strict=True)]
    y = np.arange(len(rows))
    ax.barh(y, rows["expected_error"], color="tab:blue")
    ax.set_yticks(y, names)
    ax.set_xlabel("expected error of predicting instead of measuring")
    if "measured_in" in rows:
        for yi, (err, where) in enumerate(
            zip(rows["expected_error"], rows["measured_in"], strict=True)
        ):
            if where:
                ax.text(err, yi, f"  measured in {where}", va="center", fontsize=7)
    ax.set_title("Suggested experiments (top = measure first)", fontsize=9)
    return ax if finish(ax.figure, "experiment_suggestions", show, save) else None


def gene_shift(
    ranking: pd.DataFrame,
    n: int = 20,
    fdr: float = 0.05,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> Axes | None:
    """Genes whose in-silico perturbation moves samples most towards a target group.

    Parameters
    ----------
    ranking
        From :func:`uge.tl.rank_genes_by_shift`.
    n
        Genes drawn (the ``n`` best ranked).
    fdr
        Bars of genes at or below this false discovery rate are coloured.
    ax, show, save
        As in :func:`uge.pl.annotation_accuracy`.

    Returns
    -------
    matplotlib.axes.Axes or None
        The axes, unless the figure was shown.
    """
    need = {"gene", "movement", "fdr", "rank"}
    if not need <= set(ranking.columns):
        raise ValueError(
            f"ranking needs the columns {sorted(need)} of uge.tl.rank_genes_by_shift; "
            f"got {list(ranking.columns)}."
        )
    top = ranking.sort_values("rank").head(n).iloc[::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 0.3 * len(top) + 1.2))
    hit = (top["fdr"] <= fdr).to_numpy()
    y = np.arange(len(top))
    ax.barh(y, top["movement"], color=np.where(hit, "tab:red", "0.7"))
    ax.set_yticks(y, top["gene"])
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel("movement towards the target group")
    ax.set_title(f"{hit.sum()} of {len(top)} genes at FDR ≤ {fdr:g} (red)", fontsize=9)
    return ax if finish(ax.figure, "gene_shift", show, save) else None
