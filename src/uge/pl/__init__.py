"""Plots of cross-species transfer (scanpy style: ``show=``, ``save=``, axes returned)."""

from ._annotation import annotation_accuracy
from ._genes import gene_mapping, reactome_heatmap
from ._perturbation import perturbation_scatter

__all__ = ["annotation_accuracy", "gene_mapping", "perturbation_scatter", "reactome_heatmap"]
