"""Preparing multi-species data for UGE."""

from ._concat import concat_species
from ._orthologs import ortholog_matrix
from ._validate import check_expression

__all__ = ["check_expression", "concat_species", "ortholog_matrix"]
