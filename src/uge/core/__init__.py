"""Model-free numerics shared by the model and the tools.

Reading data in chunks, input checks, the one log-normalisation, reactomes, similarity of
gene profiles, ortholog tables and the gene alignment rule. Nothing here imports another
part of uge (but :mod:`uge._constants`): layers read ``core -> pp -> module -> model -> tl
-> pl``, each importing only public names of the layers below it.
"""

from ._alignment import (
    GeneAlignment,
    alignment_pairs,
    greedy_matching,
    measured_reactome,
    reactome_pairs,
    similar_pairs,
)
from ._checks import (
    check_expression,
    check_genes,
    check_positive_int,
    scan_expression,
    validate_setup,
)
from ._chunks import is_sparse, row_chunks
from ._completion import predict_reactome, suggest_experiments
from ._genes import genes_of, species_genes, species_of_genes
from ._labels import UNKNOWN, knn_vote, label_checks, prediction_table, write_predictions
from ._neighbours import neighbour_column
from ._normalise import log_normalise
from ._orthologs import ortholog_pairs
from ._outputs import result_params, write_params, write_rows_layer
from ._reactome import compute_reactome, group_moments, reactome_frame
from ._shifts import label_shifts
from ._similarity import cosine, response_similarity, top_k_table

__all__ = [
    "UNKNOWN",
    "GeneAlignment",
    "alignment_pairs",
    "check_expression",
    "check_genes",
    "check_positive_int",
    "compute_reactome",
    "cosine",
    "genes_of",
    "greedy_matching",
    "group_moments",
    "is_sparse",
    "knn_vote",
    "label_checks",
    "label_shifts",
    "log_normalise",
    "measured_reactome",
    "neighbour_column",
    "ortholog_pairs",
    "predict_reactome",
    "prediction_table",
    "reactome_frame",
    "reactome_pairs",
    "response_similarity",
    "result_params",
    "row_chunks",
    "scan_expression",
    "similar_pairs",
    "species_genes",
    "species_of_genes",
    "suggest_experiments",
    "top_k_table",
    "validate_setup",
    "write_params",
    "write_predictions",
    "write_rows_layer",
]
