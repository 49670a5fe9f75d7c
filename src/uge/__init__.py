"""Universal Gene Embedding (UGE): cross-species transfer of gene expression."""

from importlib.metadata import PackageNotFoundError, version

from . import datasets, pl, pp, tl
from .model import UGE

try:
    __version__ = version("uge")
except PackageNotFoundError:  # pragma: no cover
    __version__ = "0.0.0"

__all__ = ["UGE", "__version__", "datasets", "pl", "pp", "tl"]
