"""Universal Gene Embedding (UGE): cross-species transfer of gene expression."""

from . import datasets, pl, pp, tl
from ._constants import VERSION as __version__
from .model import UGE

__all__ = ["UGE", "__version__", "datasets", "pl", "pp", "tl"]
