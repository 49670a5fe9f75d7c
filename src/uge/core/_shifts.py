"""Latent shifts of a condition: treated minus control latent means within each label."""

from __future__ import annotations

import numpy as np


def label_shifts(
    z: np.ndarray,
    labels: np.ndarray,
    conditions: np.ndarray,
    condition: str,
    control: str,
    rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per label, the mean latent of its ``condition`` samples minus that of its controls.

    Only labels with both kinds of samples among ``rows`` (a mask; all samples when
    ``None``) get a shift. This is the latent arithmetic of scGen and of the UGE paper
    (4.2): the same shift added to another sample's latent carries the condition over.
    """
    rows = np.ones(len(z), dtype=bool) if rows is None else rows
    shifts = {}
    for value in np.unique(labels[rows]):
        here = rows & (labels == value)
        on, off = here & (conditions == condition), here & (conditions == control)
        if on.any() and off.any():
            shifts[value] = z[on].mean(0) - z[off].mean(0)
    return shifts
