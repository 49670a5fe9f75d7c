from __future__ import annotations

from collections.abc import Mapping, Sequence

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from uge.core import reactome_frame

from ._utils import finish


def reactome_heatmap(
    adata: ad.AnnData,
    genes: Sequence[str],
    key: str = "uge_reactome",
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> Axes | None:
    """Reactomes of a few genes side by side: a gene and its candidate partners.

    One row per gene, one column per ``(label, condition)`` of
    :func:`uge.tl.reactome`; colour is the log fold change (natural log), grey where the
    gene's species did not measure the group. Use it to see why two genes were mapped to
    each other, e.g. a gene, its ortholog and its best match from :meth:`uge.UGE.map_genes`.

    Parameters
    ----------
    adata
        AnnData with ``varm[key]`` from :func:`uge.tl.reactome`.
    genes
        ``var_names`` of the genes to show, in order.
    key
        ``varm`` key of the reactome.
    ax
        Axes to draw on; a new figure when ``None``.
    show, save
        As in scanpy.

    Returns
    -------
    matplotlib.axes.Axes or None
        The axes, unless the figure was shown.
    """
    table = reactome_frame(adata, key)
    genes = [genes] if isinstance(genes, str) else list(genes)
    missing = [g for g in genes if g not in table.index]
    if missing or not genes:
        raise KeyError(f"genes {missing or genes} are not var_names of adata; pass var_names.")
    values = table.loc[genes]
    values = values.loc[:, values.notna().any(axis=0)]
    if ax is None:
        _, ax = plt.subplots(
            figsize=(max(5.0, 0.22 * values.shape[1] + 2.5), 0.4 * len(genes) + 1.8)
        )
    lim = float(np.nanmax(np.abs(values.to_numpy()))) or 1.0
    cmap = plt.get_cmap("RdBu_r").copy()
    cmap.set_bad("0.85")
    im = ax.imshow(
        np.ma.masked_invalid(values.to_numpy()), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto"
    )
    ax.set_yticks(np.arange(len(genes)), genes, fontsize=8)
    ax.set_xticks(np.arange(values.shape[1]), values.columns, rotation=90, fontsize=6)
    ax.figure.colorbar(im, ax=ax, label="log fold change vs control", shrink=0.8)
    ax.set_title("reactomes (grey: not measured in the gene's species)", fontsize=9)
    return ax if finish(ax.figure, "reactome_heatmap", show, save) else None


def gene_mapping(
    scores: Mapping[str, pd.DataFrame],
    metric: str = "top1",
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> Axes | None:
    """Hit rates of gene mappings side by side, per kind of gene pair.

    Parameters
    ----------
    scores
        ``{method: table}`` with the tables of :func:`uge.tl.evaluate_gene_mapping` (rows
        ``"overall"`` and one per kind).
    metric
        Column to plot: ``"top1"``, ``"top10"`` or ``"mrr"``.
    ax
        Axes to draw on; a new figure when ``None``.
    show, save
        As in scanpy.

    Returns
    -------
    matplotlib.axes.Axes or None
        The axes, unless the figure was shown.
    """
    if not scores:
        raise ValueError("scores is empty: pass {method: uge.tl.evaluate_gene_mapping(...)}.")
    frame = pd.DataFrame({name: table[metric] for name, table in scores.items()})
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(frame) + 2.0), 3.5))
    width = 0.8 / frame.shape[1]
    x = np.arange(len(frame))
    for i, name in enumerate(frame.columns):
        ax.bar(x + (i - (frame.shape[1] - 1) / 2) * width, frame[name], width, label=name)
    n = next(iter(scores.values()))["n"].reindex(frame.index)
    ax.set_xticks(x, [f"{k}\n(n={int(v)})" for k, v in n.items()], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel({"top1": "top-1 hit rate", "top10": "top-10 hit rate"}.get(metric, metric))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title("true partner found among the best-scored genes", fontsize=9)
    return ax if finish(ax.figure, "gene_mapping", show, save) else None
