"""Plots of cross-species transfer (scanpy style: ``show=``, ``save=``, axes returned)."""

from ._annotation import annotation_accuracy
from ._genes import gene_mapping, reactome_heatmap
from ._perturbation import perturbation_scatter
from ._uses import experiment_suggestions, gene_shift, reactome_prediction

__all__ = [
    "annotation_accuracy",
    "experiment_suggestions",
    "gene_mapping",
    "gene_shift",
    "perturbation_scatter",
    "reactome_heatmap",
    "reactome_prediction",
]
