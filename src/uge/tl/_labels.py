"""Label transfer across species and its evaluation against the random-chance model."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from uge.core import knn_vote, label_checks, prediction_table, result_params, write_predictions


def transfer_labels(
    adata: ad.AnnData,
    labels_key: str,
    source_species: str,
    target_species: str,
    use_rep: str = "X_uge",
    species_key: str = "species",
    n_neighbors: int = 15,
    min_confidence: float = 0.0,
    key_added: str = "uge_prediction",
) -> pd.DataFrame:
    """Annotate the target species' samples with the source species' labels (zero-shot).

    Each target sample gets the majority label of its ``n_neighbors`` nearest source samples
    in ``adata.obsm[use_rep]``; its confidence is the share of neighbours that voted for it.
    Target labels are never read.

    Parameters
    ----------
    adata
        AnnData with ``obsm[use_rep]``, ``obs[species_key]`` and ``obs[labels_key]`` (read
        for the source samples only).
    labels_key
        ``obs`` column with the labels (e.g. organ, cell type).
    source_species, target_species
        Species whose labels are transferred, and species that is annotated.
    use_rep
        Representation in ``obsm`` shared by the species (e.g. ``"X_uge"``).
    species_key
        ``obs`` column with the species.
    n_neighbors
        Source neighbours that vote; at most the median number of source samples per
        label (the number used is recorded in ``uns``).
    min_confidence
        Predictions with a lower confidence become ``"unknown"``.
    key_added
        Writes ``obs[key_added]`` (categorical; NaN outside the target),
        ``obs[f"{key_added}_confidence"]`` and the arguments to
        ``uns["uge"][key_added]["params"]``.

    Returns
    -------
    pandas.DataFrame
        ``prediction`` and ``confidence`` for the target samples.
    """
    if use_rep not in adata.obsm:
        raise KeyError(
            f"adata.obsm[{use_rep!r}] not found. Compute it first, e.g. "
            "adata.obsm['X_uge'] = model.get_latent_representation()."
        )
    src, tgt = label_checks(
        adata.obs, species_key, labels_key, source_species, target_species, min_confidence
    )
    src_labels = adata.obs[labels_key][src].astype(str).to_numpy()
    rep = np.asarray(adata.obsm[use_rep])
    classes, proba, k = knn_vote(rep[src], src_labels, rep[tgt], n_neighbors)
    params = {
        "labels_key": labels_key,
        "source_species": source_species,
        "target_species": target_species,
        "species_key": species_key,
        "use_rep": use_rep,
        "n_neighbors": k,
    }
    table = prediction_table(adata.obs_names[tgt], classes, proba, min_confidence)
    params = {"method": "knn", **params, "min_confidence": float(min_confidence)}
    write_predictions(adata, table, key_added, params)
    return table


def annotation_scores(
    adata: ad.AnnData, key: str = "uge_prediction", labels_key: str | None = None
) -> pd.DataFrame:
    """Accuracy and F1 of transferred labels per label and overall, with the chance model.

    Compares ``obs[key]`` (from :func:`transfer_labels` or :meth:`uge.UGE.predict_labels`
    with ``key_added``) with the target samples' true labels. The random-chance model of
    the UGE paper draws each prediction from the source species' label frequencies ``p_s``;
    with target frequencies ``p_t`` its expected scores are: accuracy of label ``c``
    ``p_s(c)``, F1 of ``c`` ``2 p_t(c) p_s(c) / (p_t(c) + p_s(c))``, overall accuracy
    ``sum_c p_t(c) p_s(c)`` and macro-F1 the mean F1 over labels.

    Parameters
    ----------
    adata
        AnnData annotated by :func:`transfer_labels`, with the target's true labels in
        ``obs[labels_key]``.
    key
        The ``key_added`` of that call.
    labels_key
        ``obs`` column with the target's true labels; ``None`` for the column the labels
        were transferred from. Pass it when that column hides the target's labels (an
        ``unlabeled_category`` in :meth:`uge.UGE.setup_anndata`).

    Returns
    -------
    pandas.DataFrame
        One row per true label and ``"overall"``: ``n``, ``accuracy`` (share of the label's
        samples predicted right; ``"unknown"`` counts as wrong), ``f1``, ``chance_accuracy``
        and ``chance_f1``; the ``"overall"`` row holds accuracy and macro-F1.
    """
    params = result_params(
        adata,
        key,
        "run model.predict_labels(..., key_added=...) or uge.tl.transfer_labels(...) first",
    )
    species = adata.obs[params["species_key"]].astype(str)
    truth_key = labels_key or params["labels_key"]
    if truth_key not in adata.obs:
        raise KeyError(f"labels_key {truth_key!r} is not a column of adata.obs.")
    labels = adata.obs[truth_key]
    tgt = (species == params["target_species"]).to_numpy() & labels.notna().to_numpy()
    if not tgt.any():
        raise ValueError(
            f"No {params['target_species']} samples with a true label in "
            f"adata.obs[{params['labels_key']!r}]; scores need the target's true labels."
        )
    true = labels[tgt].astype(str).to_numpy()
    pred = adata.obs[key][tgt].astype(str).to_numpy()
    src = (species == params["source_species"]).to_numpy()
    p_s = adata.obs[params["labels_key"]][src].astype(str).value_counts(normalize=True)
    if not set(true) & set(p_s.index):
        raise ValueError(
            f"None of the {params['target_species']} labels in adata.obs[{truth_key!r}] "
            f"(e.g. {sorted(set(true))[:3]}) is a {params['source_species']} label: if that "
            "column hides the target's labels (unlabeled_category), pass labels_key= the "
            "column with the true labels."
        )
    classes = sorted(set(true))
    p_t = pd.Series(true).value_counts(normalize=True)
    f1 = f1_score(true, pred, labels=classes, average=None, zero_division=0)
    rows = {}
    for c, f in zip(classes, f1, strict=True):
        ps, pt = float(p_s.get(c, 0.0)), float(p_t[c])
        rows[c] = {
            "n": int((true == c).sum()),
            "accuracy": float((pred[true == c] == c).mean()),
            "f1": float(f),
            "chance_accuracy": ps,
            "chance_f1": 2 * pt * ps / (pt + ps) if pt + ps > 0 else 0.0,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["overall"] = {
        "n": len(true),
        "accuracy": float((pred == true).mean()),
        "f1": float(table["f1"].mean()),
        "chance_accuracy": float(sum(p_t[c] * p_s.get(c, 0.0) for c in classes)),
        "chance_f1": float(table["chance_f1"].mean()),
    }
    table["n"] = table["n"].astype(int)
    return table
