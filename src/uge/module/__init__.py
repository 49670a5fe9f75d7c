"""Pure-torch building blocks of UGE."""

from ._decoder import ReactomeAlignedDecoder
from ._embedding import GeneEmbedding, TokenEmbedding
from ._encoder import TransformerEncoder
from ._module import UGEModule

__all__ = [
    "GeneEmbedding",
    "ReactomeAlignedDecoder",
    "TokenEmbedding",
    "TransformerEncoder",
    "UGEModule",
]
