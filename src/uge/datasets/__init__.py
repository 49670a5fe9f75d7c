"""Data sets for UGE: a simulated cross-species drug study with ground truth."""

from ._simulate import simulate_study

__all__ = ["simulate_study"]
