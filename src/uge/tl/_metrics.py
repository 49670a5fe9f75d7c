from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.neighbors import KNeighborsClassifier


def cross_species_knn_accuracy(
    adata: ad.AnnData,
    use_rep: str,
    labels_key: str,
    source_species: str,
    target_species: str,
    species_key: str = "species",
    n_neighbors: int = 15,
) -> tuple[float, float]:
    """Label transfer accuracy from one species to another by nearest neighbours.

    Each target sample gets the majority label of its ``n_neighbors`` nearest source samples
    in ``adata.obsm[use_rep]``.

    Parameters
    ----------
    adata
        AnnData with ``obsm[use_rep]``, ``obs[labels_key]`` and ``obs[species_key]``.
    use_rep
        Key of the representation in ``obsm`` (e.g. ``"X_uge"``).
    labels_key
        ``obs`` column with the true labels of both species.
    source_species, target_species
        Species whose labels are used, and species that is annotated.
    species_key
        ``obs`` column with the species.
    n_neighbors
        Neighbours that vote.

    Returns
    -------
    tuple[float, float]
        The accuracy, and the expected accuracy of the random-chance model (labels drawn
        with the source's class frequencies).
    """
    species = adata.obs[species_key].astype(str).to_numpy()
    labels = adata.obs[labels_key].astype(str).to_numpy()
    rep = np.asarray(adata.obsm[use_rep])
    src, tgt = species == source_species, species == target_species
    for name, mask in ((source_species, src), (target_species, tgt)):
        if not mask.any():
            raise ValueError(f"No samples of species {name!r} in adata.obs[{species_key!r}].")
    knn = KNeighborsClassifier(min(n_neighbors, int(src.sum()))).fit(rep[src], labels[src])
    accuracy = float((knn.predict(rep[tgt]) == labels[tgt]).mean())
    freq = pd.Series(labels[src]).value_counts(normalize=True)
    chance = float(pd.Series(labels[tgt]).map(freq).fillna(0).mean())
    return accuracy, chance


def gene_pair_retrieval(
    embedding: pd.DataFrame, pairs: pd.DataFrame, gene_species: pd.Series
) -> tuple[float, float, int]:
    """How often a target gene's nearest source genes (cosine) include its true partner.

    Parameters
    ----------
    embedding
        Gene embeddings indexed by ``var_names`` (from :meth:`uge.UGE.get_gene_embedding`).
    pairs
        DataFrame whose first column holds source genes and second column target genes
        (``var_names``), one true pair per row.
    gene_species
        Species of every gene, indexed by ``var_names``.

    Returns
    -------
    tuple[float, float, int]
        Top-1 and top-10 retrieval rates, and the number of candidate source genes.
    """
    src_col, tgt_col = pairs.columns[:2]
    source_species = gene_species.loc[pairs[src_col].iloc[0]]
    candidates = gene_species.index[gene_species.astype(str) == str(source_species)]
    e = embedding.to_numpy()
    e = e / np.linalg.norm(e, axis=1, keepdims=True).clip(1e-12)
    pos = pd.Series(np.arange(len(embedding)), index=embedding.index)
    sims = e[pos[pairs[tgt_col]].to_numpy()] @ e[pos[candidates].to_numpy()].T
    order = np.argsort(-sims, axis=1)[:, :10]
    truth = pd.Series(np.arange(len(candidates)), index=candidates)[pairs[src_col]].to_numpy()
    hits = order == truth[:, None]
    return float(hits[:, 0].mean()), float(hits.any(1).mean()), len(candidates)
