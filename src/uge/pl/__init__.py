"""Plots of cross-species transfer (scanpy style: ``show=``, ``save=``, axes returned)."""

from ._annotation import annotation_accuracy
from ._perturbation import perturbation_scatter

__all__ = ["annotation_accuracy", "perturbation_scatter"]
