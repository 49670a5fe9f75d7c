from __future__ import annotations

import logging
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

_EXTENSIONS = (".pdf", ".png", ".svg", ".jpg")


def finish(fig: Figure, writekey: str, show: bool | None, save: bool | str | None) -> bool:
    """Save and show a figure as scanpy does; return whether the caller should return axes.

    ``save=True`` writes ``{sc.settings.figdir}/{writekey}.{sc.settings.file_format_figs}``;
    a string is appended to ``writekey``, and a string ending in ``.pdf``, ``.png``,
    ``.svg`` or ``.jpg`` also sets the file type. ``show=None`` follows
    ``sc.settings.autoshow``.
    """
    import scanpy as sc

    if save:
        suffix = "" if save is True else str(save)
        ext = next((e for e in _EXTENSIONS if suffix.endswith(e)), None)
        if ext is None:
            ext = f".{sc.settings.file_format_figs}"
        else:
            suffix = suffix[: -len(ext)]
        path = Path(sc.settings.figdir) / f"{writekey}{suffix}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
        logger.info("saving figure to %s", path)
    if sc.settings.autoshow if show is None else show:
        plt.show()
        return False
    return True
