from __future__ import annotations

import numpy as np
import pandas as pd


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
