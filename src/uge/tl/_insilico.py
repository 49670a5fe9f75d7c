"""Ranking genes by how far their in-silico perturbation moves samples towards a group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from uge.core import genes_of, log_normalise, species_of_genes


def rank_genes_by_shift(
    model,
    genes: Sequence[str],
    target_key: str,
    target_value: str,
    mode: str = "knockout",
    indices: Sequence[int] | None = None,
    n_random: int = 50,
    n_bins: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """Rank genes whose in-silico perturbation moves samples towards a target group.

    Each gene is perturbed alone (:meth:`uge.UGE.in_silico_perturb`) in the samples
    ``indices`` of its species; its ``movement`` is the mean decrease of the samples' latent
    distance to the target group's centroid (mean latent of the training samples with
    ``obs[target_key] == target_value``, any species; positive: towards the target). Its
    empirical p-value compares it with the movements of ``n_random`` random genes of the
    same species and a similar mean expression (the same of ``n_bins`` quantile bins of
    mean log-normalised expression): ``(1 + #random >= movement) / (1 + n_random)``;
    ``fdr`` is Benjamini-Hochberg over the tested genes.

    Parameters
    ----------
    model
        A trained :class:`uge.UGE`.
    genes
        Genes to test, all of one species.
    target_key, target_value
        The target group: training samples with ``obs[target_key] == target_value``.
    mode
        ``"knockout"`` or ``"overexpress"``.
    indices
        Samples to perturb (training data rows, of the genes' species); default those of
        the species outside the target group.
    n_random
        Random genes per expression bin for the null.
    n_bins
        Expression bins for matching.
    seed
        Seed of the random genes.

    Returns
    -------
    pandas.DataFrame
        ``gene``, ``movement``, ``p_value``, ``fdr`` and ``rank`` (1 = moves most towards
        the target), sorted by rank.
    """
    adata = model.adata
    if target_key not in adata.obs:
        raise KeyError(f"target_key {target_key!r} is not a column of the model's adata.obs.")
    group = (adata.obs[target_key].astype(str) == str(target_value)).to_numpy()
    if not group.any():
        raise ValueError(f"No training sample has obs[{target_key!r}] == {target_value!r}.")
    genes = [genes] if isinstance(genes, str) else list(genes)
    if mode not in ("knockout", "overexpress"):
        raise ValueError(f"mode must be 'knockout' or 'overexpress', got {mode!r}.")
    skey = model.adata_manager.registry["setup_args"]["species_key"]
    species, picked = species_of_genes(adata.var, skey, model.species_, genes)
    own = (adata.obs[skey].astype(str) == species).to_numpy()
    rows = np.flatnonzero(own & ~group) if indices is None else np.asarray(indices)
    if not len(rows):
        raise ValueError(f"No {species} samples outside the target group to perturb.")
    centre = model.get_latent_representation(indices=np.flatnonzero(group)).mean(0)

    def movement(gene: str) -> float:
        out = model.in_silico_perturb([gene], mode, indices=rows)
        d0 = np.linalg.norm(out.obsm["X_uge"] - centre, axis=1)
        d1 = np.linalg.norm(out.obsm["X_uge_perturbed"] - centre, axis=1)
        return float(np.mean(d0 - d1))

    # expression bins over the species' genes, on its samples
    species_genes = genes_of(adata.var, skey, species)
    x = adata[own][:, species_genes].X
    mean = np.asarray(log_normalise(x, model.module.likelihood != "gaussian").mean(0)).ravel()
    edges = np.quantile(mean, np.linspace(0, 1, n_bins + 1)[1:-1])
    bin_of = pd.Series(np.searchsorted(edges, mean), index=species_genes)
    rng = np.random.default_rng(seed)
    observed = {g: movement(g) for g in picked}
    null: dict[int, np.ndarray] = {}
    for b in sorted(set(bin_of[picked])):
        pool = bin_of.index[(bin_of == b).to_numpy() & ~bin_of.index.isin(picked)]
        draw = rng.choice(pool, size=min(n_random, len(pool)), replace=False)
        null[b] = np.array([movement(g) for g in draw])
    p = np.array(
        [(1 + (null[bin_of[g]] >= observed[g]).sum()) / (1 + len(null[bin_of[g]])) for g in picked]
    )
    table = pd.DataFrame(
        {"gene": list(picked), "movement": [observed[g] for g in picked], "p_value": p}
    )
    table["fdr"] = false_discovery_control(table["p_value"].to_numpy())
    table = table.sort_values("movement", ascending=False, kind="stable").reset_index(drop=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table
