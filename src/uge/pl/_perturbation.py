from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from uge.tl import perturbation_r2

from ._utils import finish

UNITS = "log1p(counts per 10k)"


def perturbation_scatter(
    predicted: pd.DataFrame | Mapping[str, pd.DataFrame],
    observed: pd.DataFrame,
    control: pd.DataFrame | None = None,
    groups: Sequence[str] | None = None,
    top_n_degs: int = 100,
    panel_size: float = 2.3,
    observed_name: str = "observed",
    show: bool | None = None,
    save: bool | str | None = None,
) -> Figure | None:
    """Predicted against observed mean expression per gene, one panel per group and method.

    The UGE paper's Figure 3: for each group (e.g. organ), every gene's predicted mean
    expression (y) against the observed or true one (x), the top DEGs highlighted, and R²
    (:func:`uge.tl.perturbation_r2`) over all genes and over the DEGs in the panel.

    Parameters
    ----------
    predicted
        Groups × genes of predicted means (e.g. :func:`uge.tl.pseudobulk` of
        :meth:`uge.UGE.predict_perturbation`'s output), or a mapping of method name to such
        a table (e.g. UGE and the baselines of :func:`uge.tl.perturbation_baselines`): one
        row of panels per method.
    observed
        Groups × genes of observed (or true) means.
    control
        Groups × genes of control means; marks the DEGs (largest ``|observed - control|``).
    groups
        Groups to show (columns of panels); ``None`` for all shared groups.
    top_n_degs
        DEGs per group.
    panel_size
        Width and height of a panel in inches.
    observed_name
        What the x axis shows, e.g. ``"true"`` for a simulator's truth.
    show, save
        As in scanpy (see :func:`uge.pl.annotation_accuracy`).

    Returns
    -------
    matplotlib.figure.Figure or None
        The figure, unless it was shown.
    """
    methods = dict(predicted) if isinstance(predicted, Mapping) else {"predicted": predicted}
    if not methods:
        raise ValueError("`predicted` is empty.")
    shared = observed.index
    for table in methods.values():
        shared = shared.intersection(table.index)
    groups = list(shared) if groups is None else list(groups)
    missing = [g for g in groups if g not in shared]
    if missing or not groups:
        raise ValueError(
            f"groups {missing or groups} are not in both predicted and observed (shared: "
            f"{list(shared)})."
        )
    fig, axes = plt.subplots(
        len(methods),
        len(groups),
        figsize=(panel_size * len(groups), panel_size * len(methods)),
        squeeze=False,
    )
    for i, (name, table) in enumerate(methods.items()):
        scores = perturbation_r2(table.loc[groups], observed, top_n_degs, control)
        for j, group in enumerate(groups):
            ax = axes[i, j]
            genes = table.columns.intersection(observed.columns)
            x = observed.loc[group, genes].to_numpy(float)
            y = table.loc[group, genes].to_numpy(float)
            ax.scatter(x, y, s=3, c="0.6", lw=0, rasterized=True)
            title = f"{group}\n{name}: R² {scores.loc[group, 'r2']:.3f}"
            if control is not None:
                change = np.abs(x - control.loc[group, genes].to_numpy(float))
                degs = np.argsort(-change, kind="stable")[:top_n_degs]
                ax.scatter(x[degs], y[degs], s=5, c="tab:red", lw=0, label="top DEGs")
                title += f", DEGs {scores.loc[group, 'r2_degs']:.3f}"
            lim = [np.nanmin([x.min(), y.min()]), np.nanmax([x.max(), y.max()])]
            ax.plot(lim, lim, c="k", lw=0.6, ls="--")
            ax.set_title(title, fontsize=8)
            ax.tick_params(labelsize=7)
            if i == len(methods) - 1:
                ax.set_xlabel(f"{observed_name}, {UNITS}", fontsize=7)
            if j == 0:
                ax.set_ylabel(f"predicted, {UNITS}", fontsize=7)
    if control is not None:
        axes[0, 0].legend(fontsize=6, loc="upper left", markerscale=2)
    fig.tight_layout()
    return fig if finish(fig, "perturbation_scatter", show, save) else None
