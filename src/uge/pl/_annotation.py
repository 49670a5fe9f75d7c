from __future__ import annotations

import anndata as ad
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from uge.core import result_params
from uge.tl import annotation_scores

from ._utils import finish


def annotation_accuracy(
    adata: ad.AnnData,
    key: str = "uge_prediction",
    labels_key: str | None = None,
    ax: Axes | None = None,
    show: bool | None = None,
    save: bool | str | None = None,
) -> Axes | None:
    """Accuracy of transferred labels per label, next to the random-chance model.

    The UGE paper's Figure 2: one pair of bars per label (e.g. organ), the share of target
    samples annotated right from the source species' labels and the expected accuracy of
    the random-chance model (:func:`uge.tl.annotation_scores`); overall accuracy and
    macro-F1 of both in the title.

    Parameters
    ----------
    adata
        AnnData annotated by :meth:`uge.UGE.predict_labels` or
        :func:`uge.tl.transfer_labels`, with the target's true labels.
    key
        The ``key_added`` of the label transfer.
    labels_key
        ``obs`` column with the target's true labels (see :func:`uge.tl.annotation_scores`).
    ax
        Axes to draw on; a new figure when ``None``.
    show
        Show the figure; ``None`` follows ``sc.settings.autoshow``.
    save
        Save to ``sc.settings.figdir`` as scanpy does (``True``, or a suffix such as
        ``".png"``).

    Returns
    -------
    matplotlib.axes.Axes or None
        The axes, unless the figure was shown.
    """
    scores = annotation_scores(adata, key, labels_key)
    params = result_params(adata, key, "run model.predict_labels(..., key_added=...) first")
    per_label = scores.drop(index="overall")
    overall = scores.loc["overall"]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(per_label) + 1.5), 3.5))
    x = np.arange(len(per_label))
    ax.bar(x - 0.2, per_label["accuracy"], 0.4, label="UGE", color="tab:blue")
    ax.bar(x + 0.2, per_label["chance_accuracy"], 0.4, label="random chance", color="0.7")
    ax.set_xticks(x, per_label.index, rotation=45, ha="right")
    ax.set_ylim(0, 1.05)
    truth = labels_key or params["labels_key"]
    ax.set_ylabel(f"accuracy ({truth} of {params['target_species']} samples)")
    ax.set_title(
        f"{params['target_species']} annotated from {params['source_species']} labels\n"
        f"accuracy {overall['accuracy']:.3f} (chance {overall['chance_accuracy']:.3f}), "
        f"macro-F1 {overall['f1']:.3f} (chance {overall['chance_f1']:.3f})",
        fontsize=9,
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return ax if finish(ax.figure, "annotation_accuracy", show, save) else None
