"""Evaluation of cross-species transfer."""

from ._metrics import cross_species_knn_accuracy, gene_pair_retrieval

__all__ = ["cross_species_knn_accuracy", "gene_pair_retrieval"]
