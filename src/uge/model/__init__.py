from ._uge import UGE

__all__ = ["UGE"]
