"""Perturbation prediction: group means, R² against the truth, and the baselines."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from uge._constants import TARGET_SUM
from uge.core import check_expression, genes_of, ortholog_pairs

Scale = Literal["counts", "log1p"]


def _scale(adata: ad.AnnData, x, scale: Scale | None) -> Scale:
    if scale is None:
        scale = adata.uns.get("uge", {}).get("scale")
    if scale is None:
        scale = "counts" if check_expression(x, "the expression values") else "log1p"
    if scale not in ("counts", "log1p"):
        raise ValueError(f"scale must be 'counts' or 'log1p', got {scale!r}.")
    return scale


def pseudobulk(
    adata: ad.AnnData,
    groupby: str | None = None,
    layer: str | None = None,
    scale: Scale | None = None,
) -> pd.DataFrame:
    """Log-normalised mean expression of each group of samples.

    Counts (raw or expected, e.g. from :meth:`uge.UGE.predict_perturbation`) are scaled to
    ``1e4`` per sample, averaged over the group's samples and ``log1p``-transformed: the
    group's ``log1p(counts per 10k)``, on the scale of the simulator's true group means
    (``uns["uge_truth"]["group_means"]``). Log-normalised values are averaged as they are.

    Parameters
    ----------
    adata
        Samples × genes.
    groupby
        ``obs`` column defining the groups; ``None`` for one group named ``"all"``.
    layer
        Layer with the values; ``None`` for ``X``.
    scale
        ``"counts"`` or ``"log1p"``; ``None`` reads ``uns["uge"]["scale"]`` (set by UGE's
        predictions) or detects integer counts.

    Returns
    -------
    pandas.DataFrame
        Groups × genes.
    """
    x = adata.X if layer is None else adata.layers[layer]
    scale = _scale(adata, x, scale)
    x = x.toarray() if sparse.issparse(x) else np.asarray(x, dtype=np.float64)
    if scale == "counts":
        x = x / np.maximum(x.sum(1, keepdims=True), 1e-12) * TARGET_SUM
    if groupby is None:
        groups = pd.Series("all", index=adata.obs_names)
    else:
        if groupby not in adata.obs:
            raise KeyError(f"adata.obs[{groupby!r}] not found (passed as `groupby`).")
        groups = adata.obs[groupby].astype(str)
    means = (
        pd.DataFrame(x, index=adata.obs_names, columns=adata.var_names)
        .groupby(groups.to_numpy(), sort=True)
        .mean()
    )
    return np.log1p(means) if scale == "counts" else means


def perturbation_r2(
    predicted: pd.DataFrame | pd.Series,
    observed: pd.DataFrame | pd.Series,
    top_n_degs: int = 100,
    control: pd.DataFrame | pd.Series | None = None,
) -> pd.DataFrame:
    """R² between predicted and observed mean expression, over all genes and the top DEGs.

    R² is the squared Pearson correlation across genes of the group means, as in the UGE
    paper's Figure 3 and in scGen. The DEGs of a group are its ``top_n_degs`` genes with the
    largest ``|observed - control|``.

    Parameters
    ----------
    predicted, observed
        Groups × genes (e.g. from :func:`pseudobulk`), or one group as a Series over genes.
        Groups and genes present in both are compared.
    top_n_degs
        Number of DEGs per group.
    control
        Control group means (same groups and genes) that define the DEGs; ``None`` leaves
        ``r2_degs`` out.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``r2`` (all genes), ``r2_degs`` (with ``control``) and
        ``n_genes``.
    """
    frames = [predicted, observed] + ([] if control is None else [control])
    frames = [f.to_frame("all").T if isinstance(f, pd.Series) else f for f in frames]
    groups = frames[0].index.intersection(frames[1].index)
    genes = frames[0].columns.intersection(frames[1].columns)
    if control is not None:
        groups, genes = groups.intersection(frames[2].index), genes.intersection(frames[2].columns)
    if len(groups) == 0 or len(genes) < 3:
        raise ValueError(
            f"predicted and observed share {len(groups)} groups and {len(genes)} genes; compare "
            "means of the same groups (index) over the same genes (columns)."
        )
    rows = {}
    for g in groups:
        p = frames[0].loc[g, genes].to_numpy(float)
        o = frames[1].loc[g, genes].to_numpy(float)
        row = {"r2": _r2(p, o), "n_genes": len(genes)}
        if control is not None:
            change = np.abs(o - frames[2].loc[g, genes].to_numpy(float))
            degs = np.argsort(-change, kind="stable")[:top_n_degs]
            row["r2_degs"] = _r2(p[degs], o[degs])
        rows[g] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _r2(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1] ** 2)


def perturbation_baselines(
    adata: ad.AnnData,
    condition: str,
    source_species: str,
    target_species: str,
    orthologs: pd.DataFrame | None,
    condition_key: str,
    labels_key: str | None = None,
    labels: Sequence[str] | None = None,
    species_key: str = "species",
    control_condition: str = "control",
    layer: str | None = None,
    gene_key: str = "gene",
) -> dict[str, pd.DataFrame]:
    """The two baselines every perturbation prediction is shown against.

    Both predict the log-normalised group means (:func:`pseudobulk`) of the target species
    under ``condition``, per label, from the same data a model sees:

    - ``"no change"``: the target's control samples, as they are;
    - ``"additive"``: the target's control means plus the source species' shift
      (``condition`` minus control, same label where the source has it, else the mean shift
      over the source's labels), carried to target genes through the ortholog table (a
      target gene with several source orthologs gets their mean shift; genes without one
      get no shift). With ``source_species == target_species``, the shift of the same
      label, or the mean shift of the species' other labels, is added gene by gene.

    Parameters
    ----------
    adata
        Both species, built with :func:`uge.pp.concat_species` (``var[species_key]``,
        ``var[gene_key]``).
    condition
        The condition to predict.
    source_species, target_species
        Species where ``condition`` was measured, and species to predict.
    orthologs
        Ortholog table, one column per species (as for :class:`uge.UGE`); ``None`` makes
        ``"additive"`` equal to ``"no change"``.
    condition_key, labels_key
        ``obs`` columns with conditions and labels (e.g. organs); ``labels_key=None`` treats
        all samples as one group ``"all"``.
    labels
        Target labels to predict; ``None`` for all with control samples.
    species_key, control_condition, layer, gene_key
        As in :meth:`uge.UGE.setup_anndata` and :func:`uge.pp.concat_species`.

    Returns
    -------
    dict[str, pandas.DataFrame]
        ``{"no change": ..., "additive": ...}``, each labels × target genes.
    """
    obs = adata.obs
    for key in (species_key, condition_key, labels_key):
        if key is not None and key not in obs:
            raise KeyError(f"adata.obs[{key!r}] not found.")
    species = obs[species_key].astype(str)
    cond = obs[condition_key].astype(str)
    lab = obs[labels_key].astype(str) if labels_key else pd.Series("all", index=obs.index)
    target_genes = genes_of(adata.var, species_key, target_species)
    source_genes = genes_of(adata.var, species_key, source_species)
    ctrl_rows = (species == target_species) & (cond == control_condition)
    if labels is not None:
        ctrl_rows &= lab.isin([str(v) for v in labels])
    if not ctrl_rows.any():
        raise ValueError(
            f"No {target_species} samples with {condition_key}={control_condition!r}"
            + (f" and {labels_key} in {list(labels)}" if labels is not None else "")
            + ": the baselines start from the target's control samples."
        )

    def means(rows: pd.Series, genes: pd.Index) -> pd.DataFrame:
        return _group_means(adata, rows.to_numpy(), genes, lab[rows].to_numpy(), layer)

    no_change = means(ctrl_rows, target_genes)
    src_on = means((species == source_species) & (cond == condition), source_genes)
    src_off = means((species == source_species) & (cond == control_condition), source_genes)
    both = src_on.index.intersection(src_off.index)
    if len(both) == 0:
        raise ValueError(
            f"{source_species} has no label with both {condition!r} and "
            f"{control_condition!r} samples; the shift cannot be measured."
        )
    shift = src_on.loc[both] - src_off.loc[both]
    per_label = shift.reindex(no_change.index).fillna(shift.mean())

    additive = no_change.copy()
    if source_species == target_species:  # within one species: no orthologs needed
        return {"no change": no_change, "additive": additive + per_label[target_genes]}
    pairs = ortholog_pairs(
        orthologs, adata.var, species_key, [source_species, target_species], gene_key
    )
    if len(pairs):
        mapped = _through_orthologs(per_label, adata.var, pairs, species_key, target_species)
        additive[mapped.columns] += mapped
    return {"no change": no_change, "additive": additive}


def _group_means(
    adata: ad.AnnData, rows: np.ndarray, genes: pd.Index, groups: np.ndarray, layer: str | None
) -> pd.DataFrame:
    """:func:`pseudobulk` of the samples ``rows`` and ``genes`` of ``adata`` by ``groups``."""
    sub = adata[rows, genes]
    sub = ad.AnnData(
        sub.X if layer is None else sub.layers[layer],
        obs=pd.DataFrame({"group": groups}, index=sub.obs_names),
        var=pd.DataFrame(index=sub.var_names),
    )
    return pseudobulk(sub, "group")


def _through_orthologs(
    shift: pd.DataFrame, var: pd.DataFrame, pairs: np.ndarray, species_key: str, target: str
) -> pd.DataFrame:
    """Source genes' ``shift`` (labels × source genes) carried to their target orthologs
    (the mean over a target gene's orthologs): labels × target genes with orthologs."""
    names = var.index
    src, tgt = names[pairs[:, 0]], names[pairs[:, 1]]
    flip = var[species_key].astype(str).to_numpy()[pairs[:, 0]] == target
    src, tgt = np.where(flip, tgt, src), np.where(flip, src, tgt)
    return shift[src].T.groupby(tgt).mean().T
