"""Labels carried across species: kNN votes in a shared space, and their written form."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsClassifier

from ._outputs import write_params

UNKNOWN = "unknown"


def knn_vote(
    source: np.ndarray, labels: np.ndarray, target: np.ndarray, n_neighbors: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Votes of each ``target`` row's nearest ``source`` rows for their ``labels``.

    Never more neighbours than the median label has source rows: with 3 samples per organ,
    15 votes would come mostly from other organs. Returns the classes, the ``(n_target,
    n_classes)`` shares of votes and the number of neighbours used.
    """
    k = max(1, min(n_neighbors, int(np.median(pd.Series(labels).value_counts()))))
    knn = KNeighborsClassifier(k).fit(source, labels)
    return knn.classes_, knn.predict_proba(target), k


def label_checks(
    obs: pd.DataFrame,
    species_key: str,
    labels_key: str,
    source_species: str,
    target_species: str,
    min_confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the source and target samples, after the checks every label transfer needs.

    Raises an error naming the problem when a key is missing, the species are the same or
    absent, ``min_confidence`` is outside [0, 1] or a source sample has no label.
    """
    for key, what in ((species_key, "species_key"), (labels_key, "labels_key")):
        if key not in obs:
            raise KeyError(f"adata.obs[{key!r}] not found (passed as `{what}`).")
    if source_species == target_species:
        raise ValueError("source_species and target_species are the same; pass two species.")
    species = obs[species_key].astype(str).to_numpy()
    present = sorted(set(species))
    for name in (source_species, target_species):
        if name not in present:
            raise ValueError(
                f"No samples of species {name!r} in adata.obs[{species_key!r}] (species: "
                f"{present})."
            )
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}.")
    src, tgt = species == source_species, species == target_species
    missing = obs[labels_key][src].isna()
    if missing.any():
        raise ValueError(
            f"{int(missing.sum())} {source_species} samples have no label in "
            f"adata.obs[{labels_key!r}]; the source species needs a label on every sample."
        )
    return src, tgt


def prediction_table(
    obs_names: pd.Index, classes: np.ndarray, proba: np.ndarray, min_confidence: float
) -> pd.DataFrame:
    """``prediction`` (the most probable class; ``"unknown"`` below ``min_confidence``) and
    ``confidence`` (its probability) of each row of ``proba``, indexed by ``obs_names``."""
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}.")
    classes = np.asarray(classes).astype(str)
    prediction = classes[proba.argmax(1)].astype(object)
    confidence = proba.max(1)
    prediction[confidence < min_confidence] = UNKNOWN
    categories = list(classes) + ([UNKNOWN] if UNKNOWN not in classes else [])
    return pd.DataFrame(
        {"prediction": pd.Categorical(prediction, categories=categories), "confidence": confidence},
        index=obs_names,
    )


def write_predictions(adata: ad.AnnData, table: pd.DataFrame, key_added: str, params: dict) -> None:
    """Write a :func:`prediction_table` into ``adata`` as scanpy does for a clustering.

    ``obs[key_added]``: the predictions (categorical; NaN for samples not predicted),
    ``obs[f"{key_added}_confidence"]`` and ``uns["uge"][key_added]["params"]``.
    """
    rows = adata.obs_names.get_indexer(table.index)
    full = pd.Series(pd.NA, index=adata.obs_names, dtype=object)
    full.iloc[rows] = table["prediction"].astype(object).to_numpy()
    adata.obs[key_added] = pd.Categorical(full, categories=table["prediction"].cat.categories)
    confidence = np.full(adata.n_obs, np.nan)
    confidence[rows] = table["confidence"].to_numpy()
    adata.obs[f"{key_added}_confidence"] = confidence
    write_params(adata, key_added, params)
