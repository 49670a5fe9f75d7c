"""Reactome prediction from a reactome alone: a gene × label × condition factorisation."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd

from uge._constants import SEP

from ._checks import check_positive_int
from ._neighbours import choose, neighbour_column
from ._reactome import reactome_frame


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


def _shrinkage(r: np.ndarray, axis: int) -> float:
    """Empirical-Bayes weight of the mean of ``r`` over ``axis`` (NaN: unmeasured).

    Between-group variance of the means (beyond what their noise explains) over that
    plus the noise of a mean over the full axis: near 1 when the entries along ``axis``
    agree (a shared effect), near 0 when they do not.
    """
    n = (~np.isnan(r)).sum(axis)
    several = n >= 2
    if not several.any():
        return 0.0
    within = np.nanvar(np.where(np.isnan(r), np.nan, r), axis=axis, ddof=1)[several].mean()
    means = np.nanmean(r, axis=axis)[several]
    between = max(float(np.mean(means**2) - np.mean(within / n[several])), 0.0)
    return between / (between + within / r.shape[axis]) if between > 0 else 0.0


def fit_cp(
    x: np.ndarray, rank: int, n_iter: int = 100, ridge: float = 1e-2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``x[g, l, c] ≈ a[g, l] + e[g, c] + sum_k U[g, k] L[l, k] C[c, k]`` where measured.

    ``a``: each gene's response shared by the conditions in a label (e.g. an organ's
    stress response); ``e``: its response to a condition shared by the labels (e.g. a
    drug's targets); both are means shrunk towards 0 by an empirical-Bayes weight
    (:func:`_shrinkage`) learned from how well the measured entries agree. The CP
    term holds what is specific to a combination. Missing entries (NaN) are filled with
    the current fit before each sweep (EM for a least-squares fit), so any pattern of
    missing entries works. Each CP factor is a ridge regression (penalty ``ridge`` times
    the mean diagonal of its normal equations), solved with the Khatri-Rao identities of
    CP-ALS.
    """
    observed = ~np.isnan(x)
    rng = np.random.default_rng(seed)
    g, n_lab, n_cond = x.shape
    rank = min(rank, g, n_lab * n_cond)
    u = rng.normal(size=(g, rank)) * 0.1
    lab = rng.normal(size=(n_lab, rank))
    cond = rng.normal(size=(n_cond, rank))
    a, e = np.zeros((g, n_lab)), np.zeros((g, n_cond))
    with warnings.catch_warnings():  # all-NaN slices are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        # each weight from the data less the other effect; with a single label (or
        # condition) the two effects are one, and the data themselves decide its weight
        k_a = _shrinkage(x - np.nan_to_num(np.nanmean(x, 1, keepdims=True)) * (n_lab > 1), 2)
        k_e = _shrinkage(x - np.nan_to_num(np.nanmean(x, 2, keepdims=True)) * (n_cond > 1), 1)
        if n_lab == 1 and n_cond > 1:
            k_e = 0.0  # the label's shared response is ``a``; ``e`` would count it twice
        if n_cond == 1 and n_lab > 1:
            k_a = 0.0
    cp = np.zeros_like(x)
    filled = np.where(observed, x, 0.0)
    for _ in range(n_iter):
        a = k_a * (filled - e[:, None, :] - cp).mean(2)
        e = k_e * (filled - a[:, :, None] - cp).mean(1)
        y = filled - a[:, :, None] - e[:, None, :]
        rhs = np.einsum("glc,lk,ck->gk", y, lab, cond, optimize=True)
        u = _solve((lab.T @ lab) * (cond.T @ cond), rhs, ridge)
        rhs = np.einsum("glk,gk->lk", y @ cond, u)
        lab = _solve((u.T @ u) * (cond.T @ cond), rhs, ridge)
        rhs = np.einsum("gck,gk->ck", y.transpose(0, 2, 1) @ lab, u)
        cond = _solve((u.T @ u) * (lab.T @ lab), rhs, ridge)
        cp = (u @ _khatri_rao(lab, cond).T).reshape(g, n_lab, n_cond)
        filled = np.where(observed, x, a[:, :, None] + e[:, None, :] + cp)
    return a, e, u, lab, cond


def predict_reactome(
    reactome: pd.DataFrame | ad.AnnData,
    labels: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    rank: int = 10,
    n_iter: int = 100,
    ridge: float = 0.1,
    key: str = "uge_reactome",
    seed: int = 0,
    method: Literal["factorisation", "neighbours"] = "factorisation",
) -> pd.DataFrame:
    """Predict genes' responses in (label, condition) combinations never measured.

    The reactome (genes × ``label|condition`` columns, NaN where unmeasured) is read as a
    genes × labels × conditions tensor and fitted on its measured entries as
    ``x[g, l, c] ≈ a[g, l] + e[g, c] + sum_k U[g, k] L[l, k] C[c, k]``: a gene
    embedding ``U``, a label (e.g. organ) embedding ``L`` and a condition (e.g. drug)
    embedding ``C`` (UGE paper, contribution 1), plus each gene's response shared by the
    conditions of a label (``a``) and by the labels under a condition (``e``); see
    :func:`fit_cp`. A condition measured in some labels and not in others is predicted
    from what it did in the labels measured and what the other conditions did in the
    label asked. Works on
    any signature matrix: no samples or trained model needed (e.g. published drug
    signatures, ``docs/model.md``).

    ``method="neighbours"`` instead starts from the label's mean over its other
    conditions and adds what the other labels say about the condition: the label's other
    conditions weighted by how much each resembles it there, and gene by gene the
    condition's response there carried over by the gene's regression between the two
    labels (``uge.core.neighbour_column``; its two settings chosen by leave-one-out
    on the label's measured columns). On DrugMatrix, a drug's kidney signature from the
    liver signatures and the other drugs' kidney signatures, it is ahead of the
    factorisation and of the mean of the other drugs (``docs/benchmarks.md``).

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
    method
        ``"factorisation"`` or ``"neighbours"`` (``rank``, ``n_iter``, ``ridge`` and
        ``seed`` are the factorisation's only).

    Returns
    -------
    pandas.DataFrame
        Genes × ``"label|condition"`` columns for every requested combination: the fitted
        response (for measured columns too, so that fit and data can be compared; with
        ``"neighbours"`` a measured column is predicted without reading it).
    """
    table = reactome_frame(reactome, key) if isinstance(reactome, ad.AnnData) else reactome
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"reactome must be a DataFrame or an AnnData, got {type(table).__name__}.")
    check_positive_int("rank", rank)
    check_positive_int("n_iter", n_iter)
    if not ridge >= 0:
        raise ValueError(f"ridge must be non-negative, got {ridge!r}.")
    if method not in ("factorisation", "neighbours"):
        raise ValueError(f"method must be 'factorisation' or 'neighbours', got {method!r}.")
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
    labels = list(dict.fromkeys(labels)) if labels is not None else all_labels
    conditions = list(dict.fromkeys(conditions)) if conditions is not None else all_conditions
    li = [all_labels.index(a) for a in labels]
    ci = [all_conditions.index(c) for c in conditions]
    if method == "neighbours":
        pred = _neighbour_fill(x, li, ci)
    else:
        a, e, u, lab, cond = fit_cp(x, rank, n_iter, ridge, seed)
        cp = (u @ _khatri_rao(lab[li], cond[ci]).T).reshape(len(u), len(li), len(ci))
        pred = a[:, li, None] + e[:, None, ci] + cp
    columns = [f"{a}{SEP}{c}" for a in labels for c in conditions]
    return pd.DataFrame(pred.reshape(len(table), -1), index=table.index, columns=columns)


def _neighbour_fill(x: np.ndarray, li: list[int], ci: list[int]) -> np.ndarray:
    """:func:`neighbour_column` of every requested (label, condition); the settings of a
    label are chosen once for all its unmeasured conditions."""
    measured = ~np.isnan(x).all(0)
    pred = np.empty((x.shape[0], len(li), len(ci)))
    chosen: dict[int, tuple[float, float]] = {}
    for a, lab in enumerate(li):
        for b, cond in enumerate(ci):
            choice = None
            if not measured[lab, cond]:
                choice = chosen.setdefault(lab, choose(x, measured, lab))
            pred[:, a, b] = neighbour_column(x, lab, cond, choice)
    return pred


def suggest_experiments(
    reactome: pd.DataFrame | ad.AnnData,
    n: int = 5,
    labels: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    rank: int = 10,
    n_models: int = 8,
    holdout: float = 0.2,
    key: str = "uge_reactome",
    seed: int = 0,
) -> pd.DataFrame:
    """Rank the unmeasured (label, condition) combinations by how much measuring them adds.

    Measuring a combination is worth what predicting it instead would get wrong. That
    error is estimated by cross-validation: ``n_models`` factorisations
    (:func:`predict_reactome`) are fitted, each without a random ``holdout`` share of the
    measured columns, and each held-out column's prediction error (mean squared error over
    genes) is recorded. A candidate's ``expected_error`` is the mean of the errors of the
    held-out columns that share its label and of those that share its condition (the two
    averaged): a label or condition whose measured columns the others predict badly
    (e.g. a label measured under one condition only) is where the reactome is least
    determined. Ties are broken by ``disagreement``, the variance of the candidate's
    predictions across the fits.

    Parameters
    ----------
    reactome
        As in :func:`predict_reactome`.
    n
        Combinations returned.
    labels, conditions
        Candidates (every label with every condition); ``None`` for all in the reactome.
    rank
        Factors per fit.
    n_models
        Number of fits (at least 2).
    holdout
        Share of measured columns each fit leaves out, in (0, 1).
    key
        ``varm`` key when ``reactome`` is an AnnData.
    seed
        Seed of the column draws and initial factors.

    Returns
    -------
    pandas.DataFrame
        The ``n`` best unmeasured combinations: ``label``, ``condition``,
        ``expected_error`` (squared reactome units per gene), ``disagreement``,
        ``predicted_size`` (mean absolute predicted response) and ``rank`` (1 = measure
        first).
    """
    table = reactome_frame(reactome, key) if isinstance(reactome, ad.AnnData) else reactome
    check_positive_int("n", n)
    if not isinstance(n_models, int | np.integer) or n_models < 2:
        raise ValueError(f"n_models must be an integer of at least 2, got {n_models!r}.")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout must be in (0, 1), got {holdout!r}.")
    full = predict_reactome(table, labels, conditions, rank=1, n_iter=1)  # checks the inputs
    measured = [c for c in table.columns if table[c].notna().any()]
    candidates = [c for c in full.columns if c not in measured]
    if not candidates:
        raise ValueError("Every requested (label, condition) combination is measured already.")
    rng = np.random.default_rng(seed)
    predictions, errors = [], []
    for m in range(n_models):
        drop = [c for c in measured if rng.random() < holdout] or [rng.choice(measured)]
        member = table.copy()
        member[drop] = np.nan
        if member.isna().all().all():
            continue
        fitted = predict_reactome(member, rank=rank, seed=seed + m)
        predictions.append(fitted.reindex(columns=candidates).to_numpy())
        for c in drop:
            if c in fitted:
                err = np.nanmean((fitted[c].to_numpy() - table[c].to_numpy()) ** 2)
            else:  # its label or condition had nothing else measured
                err = np.nanmean(table[c].to_numpy() ** 2)
            errors.append((*c.split(SEP), err))
    errs = pd.DataFrame(errors, columns=["label", "condition", "error"])
    by_label = errs.groupby("label")["error"].mean()
    by_cond = errs.groupby("condition")["error"].mean()
    worst = errs["error"].max()
    split = [c.split(SEP) for c in candidates]
    expected = np.array([(by_label.get(a, worst) + by_cond.get(b, worst)) / 2 for a, b in split])
    stack = np.nan_to_num(np.stack(predictions))
    disagreement = stack.var(0).mean(0)
    order = np.lexsort((-disagreement, -expected))[:n]
    return pd.DataFrame(
        {
            "label": [split[i][0] for i in order],
            "condition": [split[i][1] for i in order],
            "expected_error": expected[order],
            "disagreement": disagreement[order],
            "predicted_size": np.abs(stack.mean(0)).mean(0)[order],
            "rank": np.arange(1, len(order) + 1),
        }
    )
