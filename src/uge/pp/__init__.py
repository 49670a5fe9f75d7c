"""Preparing multi-species data for UGE."""

from uge.core import check_expression

from ._concat import concat_species
from ._orthologs import ortholog_matrix

__all__ = ["check_expression", "concat_species", "ortholog_matrix"]
