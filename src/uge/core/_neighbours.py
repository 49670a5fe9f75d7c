"""Reactome completion by similar conditions: a combination from its label's other columns.

The answer to beat on real signatures is the label's mean over its other conditions (e.g.
a drug's kidney signature as the mean kidney signature of the other drugs). This method
starts there and adds what the other labels say about the condition asked (see
:func:`neighbour_column`).
"""

from __future__ import annotations

import numpy as np

SHRINKS = (0.0, 0.25, 0.5, 0.75, 1.0)  # weights of the similar-conditions term tried
RIDGES = (1.0, 10.0, 100.0)  # ridges of the per-gene slopes tried (times the mean)


def _parts(
    x: np.ndarray, measured: np.ndarray, label: int, cond: int, own: list[int]
) -> tuple[np.ndarray, np.ndarray, dict[float, np.ndarray]]:
    """Base, similar-conditions term and per-gene slope terms (one per ridge) of
    ``x[:, label, cond]`` from the label's conditions ``own`` and the other labels."""
    n_genes, n_labels = x.shape[0], x.shape[1]
    others = [k for k in range(n_labels) if k != label and measured[k, cond]]
    if not own:  # nothing else measured in the label: the condition elsewhere
        base = x[:, others, cond].mean(1) if others else np.full(n_genes, np.nan)
        return base, np.zeros(n_genes), {r: np.zeros(n_genes) for r in RIDGES}
    base = x[:, label, own].mean(1)
    resid = x[:, label, own] - base[:, None]
    similar, slopes = np.zeros(n_genes), {r: np.zeros(n_genes) for r in RIDGES}
    for k in others:
        shared = [i for i, j in enumerate(own) if measured[k, j]]
        if not shared:
            continue
        cols = [own[i] for i in shared]
        centre = x[:, k, cols].mean(1)
        ref, target = x[:, k, cols] - centre[:, None], x[:, k, cond] - centre
        # correlation over genes of the condition with each shared one, in label k
        zt = (target - target.mean()) / (target.std() + 1e-12)
        zr = (ref - ref.mean(0)) / (ref.std(0) + 1e-12)
        w = np.maximum(zt @ zr / n_genes, 0.0)
        if w.sum() > 0:
            similar += resid[:, shared] @ (w / w.sum()) / len(others)
        num, den = (resid[:, shared] * ref).sum(1), (ref**2).sum(1)
        for r in RIDGES:
            slopes[r] += num / (den + r * max(den.mean(), 1e-12)) * target / len(others)
    return base, similar, slopes


def choose(x: np.ndarray, measured: np.ndarray, label: int) -> tuple[float, float]:
    """The weight and ridge with the lowest leave-one-out error over the label's
    measured conditions (the first of each grid when fewer than two are measured)."""
    own = list(np.flatnonzero(measured[label]))
    if len(own) < 2:
        return SHRINKS[0], RIDGES[0]
    err: dict[tuple[float, float], float] = {}
    for j in own:
        base, similar, slopes = _parts(x, measured, label, j, [o for o in own if o != j])
        for s in SHRINKS:
            for r in RIDGES:
                e = np.nanmean((base + s * similar + slopes[r] - x[:, label, j]) ** 2)
                err[(s, r)] = err.get((s, r), 0.0) + e
    return min(err, key=err.get)


def neighbour_column(
    x: np.ndarray, label: int, cond: int, choice: tuple[float, float] | None = None
) -> np.ndarray:
    """Predict ``x[:, label, cond]`` (genes × labels × conditions, NaN unmeasured) without
    reading it.

    ``base + s * similar + slope``: ``base`` is the label's mean over its other measured
    conditions. ``similar`` weights those conditions' deviations from ``base`` by how much
    each resembles ``cond`` in the other labels (positive correlation over genes of the
    conditions' deviations from that label's mean). ``slope`` carries, gene by gene, the
    condition's deviation in another label into this one, by that gene's ridge regression
    of this label's deviations on the other label's over the conditions both measured
    (e.g. how a gene's liver response to a drug shows in its kidney response). The weight
    ``s`` and the ridge are chosen by leave-one-out over the label's measured conditions.
    Several other labels: the mean of their terms. ``choice``: the ``(s, ridge)`` already
    chosen for this label (the same for all its unmeasured conditions).
    """
    measured = ~np.isnan(x).all(0)
    measured[label, cond] = False
    s, r = choice if choice is not None else choose(x, measured, label)
    own = [int(j) for j in np.flatnonzero(measured[label])]
    base, similar, slopes = _parts(x, measured, label, cond, own)
    return base + s * similar + slopes[r]
