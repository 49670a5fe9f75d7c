"""Tools: reactomes and gene mapping, label transfer, perturbation evaluation and baselines."""

from uge.core import predict_reactome, suggest_experiments

from ._insilico import rank_genes_by_shift
from ._labels import annotation_scores, transfer_labels
from ._perturbation import perturbation_baselines, perturbation_r2, pseudobulk
from ._reactome import (
    evaluate_gene_mapping,
    map_genes_by_coexpression,
    map_genes_by_reactome,
    reactome,
)

__all__ = [
    "annotation_scores",
    "evaluate_gene_mapping",
    "map_genes_by_coexpression",
    "map_genes_by_reactome",
    "perturbation_baselines",
    "perturbation_r2",
    "predict_reactome",
    "pseudobulk",
    "rank_genes_by_shift",
    "reactome",
    "suggest_experiments",
    "transfer_labels",
]
