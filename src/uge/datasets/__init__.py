"""Data sets for UGE: a simulated cross-species drug study with ground truth, real loaders."""

from ._hagai import load_hagai2018, load_hagai2018_bulk, load_tissue_atlas
from ._real import load_baron, load_brawand, load_drugmatrix, load_kang, resolve_data_dir
from ._simulate import simulate_study

__all__ = [
    "load_baron",
    "load_brawand",
    "load_drugmatrix",
    "load_hagai2018",
    "load_hagai2018_bulk",
    "load_kang",
    "load_tissue_atlas",
    "resolve_data_dir",
    "simulate_study",
]
