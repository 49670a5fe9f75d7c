"""Tools: label transfer, perturbation evaluation, baselines and gene-embedding metrics."""

from ._labels import annotation_scores, transfer_labels
from ._metrics import gene_pair_retrieval
from ._perturbation import perturbation_baselines, perturbation_r2, pseudobulk

__all__ = [
    "annotation_scores",
    "gene_pair_retrieval",
    "perturbation_baselines",
    "perturbation_r2",
    "pseudobulk",
    "transfer_labels",
]
