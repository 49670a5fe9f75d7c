"""Reactome prediction from a reactome alone: a gene × label × condition factorisation."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from uge.model._inputs import check_positive_int
from uge.tl._reactome import SEP, _reactome_frame


def _as_tensor(table: pd.DataFrame) -> tuple[np.ndarray, list[str], list[str]]:
    """``(genes, labels, conditions)`` tensor from ``label|condition`` columns, NaN unmeasured."""
    bad = [c for c in table.columns if not isinstance(c, str) or c.count(SEP) != 1]
    if bad:
        raise ValueError(
            f"Reactome columns must be named 'label{SEP}condition' (as uge.tl.reactome writes "
            f"them); e.g. {bad[:3]} are not."
        )
    pairs = [tuple(c.split(SEP)) for c in table.columns]
    labels = list(dict.fromkeys(p[0] for p in pairs))
    conditions = list(dict.fromkeys(p[1] for p in pairs))
    x = np.full((len(table), len(labels), len(conditions)), np.nan)
    values = table.to_numpy(dtype=np.float64)
    for j, (lab, cond) in enumerate(pairs):
        x[:, labels.index(lab), conditions.index(cond)] = values[:, j]
    return x, labels, conditions


def _khatri_rao(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows ``(i, j)`` (i slow) of ``a[i] * b[j]``."""
    return (a[:, None, :] * b[None, :, :]).reshape(-1, a.shape[1])


def _solve(gram: np.ndarray, rhs: np.ndarray, ridge: float) -> np.ndarray:
    """Rows ``x`` of ``x @ gram = rhs`` with ``ridge`` times the mean diagonal added."""
    gram = gram.copy()
    gram[np.diag_indices_from(gram)] += ridge * max(np.trace(gram) / len(gram), 1e-12)
    return np.linalg.solve(gram, rhs.T).T


def fit_cp(
    x: np.ndarray, rank: int, n_iter: int = 100, ridge: float = 1e-2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``x[g, l, c] ≈ b[g, l] + sum_k U[g, k] L[l, k] C[c, k]`` on the measured entries.

    ``b`` is each gene's mean over the conditions measured in the label. Missing entries
    (NaN) are filled with the current prediction before each alternating least-squares
    sweep (EM for a least-squares fit), so any pattern of missing entries works. Each
    factor is a ridge regression (penalty ``ridge`` times the mean diagonal of its normal
    equations), solved with the Khatri-Rao identities of CP-ALS.
    """
    observed = ~np.isnan(x)
    n_obs = observed.sum(2)
    base = np.where(n_obs > 0, np.nansum(x, 2) / np.maximum(n_obs, 1), np.nan)
    # a label measured under no condition takes the gene's mean over the other labels
    fill = np.nanmean(np.where(n_obs > 0, base, np.nan), axis=1)
    base = np.where(np.isnan(base), np.nan_to_num(fill)[:, None], base)
    y = x - base[:, :, None]
    rng = np.random.default_rng(seed)
    g, n_lab, n_cond = x.shape
    rank = min(rank, g, n_lab * n_cond)
    u = rng.normal(size=(g, rank)) * 0.1
    lab = rng.normal(size=(n_lab, rank))
    cond = rng.normal(size=(n_cond, rank))
    filled = np.where(observed, y, 0.0)
    for _ in range(n_iter):
        rhs = np.einsum("glc,lk,ck->gk", filled, lab, cond, optimize=True)
        u = _solve((lab.T @ lab) * (cond.T @ cond), rhs, ridge)
        rhs = np.einsum("glk,gk->lk", filled @ cond, u)
        lab = _solve((u.T @ u) * (cond.T @ cond), rhs, ridge)
        rhs = np.einsum("gck,gk->ck", filled.transpose(0, 2, 1) @ lab, u)
        cond = _solve((u.T @ u) * (lab.T @ lab), rhs, ridge)
        fit = (u @ _khatri_rao(lab, cond).T).reshape(g, n_lab, n_cond)
        filled = np.where(observed, y, fit)
    return base, u, lab, cond


def predict_reactome(
    reactome: pd.DataFrame | ad.AnnData,
    labels: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    rank: int = 10,
    n_iter: int = 100,
    ridge: float = 1e-2,
    key: str = "uge_reactome",
    seed: int = 0,
) -> pd.DataFrame:
    """Predict genes' responses in (label, condition) combinations never measured.

    The reactome (genes × ``label|condition`` columns, NaN where unmeasured) is read as a
    genes × labels × conditions tensor and fitted on its measured entries as
    ``x[g, l, c] ≈ b[g, l] + sum_k U[g, k] L[l, k] C[c, k]``: a gene embedding ``U``,
    a label (e.g. organ) embedding ``L`` and a condition (e.g. drug) embedding ``C``
    (UGE paper, contribution 1), plus each gene's mean response in the label ``b``. A
    condition measured in some labels and not in others is predicted from what it did in
    the labels measured and what the other conditions did in the label asked. Works on
    any signature matrix: no samples or trained model needed (e.g. published drug
    signatures, ``docs/model.md``).

    Parameters
    ----------
    reactome
        A DataFrame (genes × ``"label|condition"`` columns), or an AnnData with
        ``varm[key]`` from :func:`uge.tl.reactome`.
    labels, conditions
        Combinations to return (every label with every condition); ``None`` for all in the
        reactome.
    rank
        Number of factors ``K``.
    n_iter
        Alternating least-squares sweeps.
    ridge
        Ridge penalty, relative to the mean diagonal of each least-squares problem.
    key
        ``varm`` key when ``reactome`` is an AnnData.
    seed
        Seed of the initial factors.

    Returns
    -------
    pandas.DataFrame
        Genes × ``"label|condition"`` columns for every requested combination: the fitted
        response (for measured columns too, so that fit and data can be compared).
    """
    table = _reactome_frame(reactome, key) if isinstance(reactome, ad.AnnData) else reactome
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"reactome must be a DataFrame or an AnnData, got {type(table).__name__}.")
    check_positive_int("rank", rank)
    check_positive_int("n_iter", n_iter)
    if not ridge >= 0:
        raise ValueError(f"ridge must be non-negative, got {ridge!r}.")
    x, all_labels, all_conditions = _as_tensor(table)
    if np.isnan(x).all():
        raise ValueError("The reactome has no measured entry: nothing to fit.")
    for name, asked, known in (
        ("labels", labels, all_labels),
        ("conditions", conditions, all_conditions),
    ):
        unknown = [a for a in asked or [] if a not in known]
        if unknown:
            raise ValueError(
                f"{name} {unknown} are not in the reactome, whose {name} are {known}: a "
                f"{name[:-1]} with no measured column has no embedding to predict from."
            )
    base, u, lab, cond = fit_cp(x, rank, n_iter, ridge, seed)
    labels = list(labels) if labels is not None else all_labels
    conditions = list(conditions) if conditions is not None else all_conditions
    li = [all_labels.index(a) for a in labels]
    ci = [all_conditions.index(c) for c in conditions]
    pred = base[:, li, None] + (u @ _khatri_rao(lab[li], cond[ci]).T).reshape(len(u), len(li), -1)
    columns = [f"{a}{SEP}{c}" for a in labels for c in conditions]
    return pd.DataFrame(pred.reshape(len(table), -1), index=table.index, columns=columns)
