"""Give freed heap memory back to the operating system during long passes over data."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _trim():
    """glibc's ``malloc_trim`` (Linux), or ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_memory() -> None:
    """Return the heap's free pages to the system (``malloc_trim(0)``; no-op elsewhere).

    A pass over millions of samples allocates and frees minibatch tensors of varying
    sizes; glibc keeps the freed pages, so the process's resident memory creeps up with
    the number of minibatches although nothing is held (measured: +1 GiB over 100,000
    cells from a backed h5ad, ``benchmarks/bench_atlas.py``). Trimming after every
    minibatch keeps it flat.
    """
    trim = _trim()
    if trim is not None:
        trim(0)
