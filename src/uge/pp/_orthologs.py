"""One-to-one ortholog groups as one shared gene list: the input of ortholog baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ortholog_matrix(
    adata,
    orthologs: pd.DataFrame | None = None,
    species: list[str] | None = None,
    species_key: str = "species",
    gene_key: str = "gene",
    layer: str | None = None,
):
    """Samples of all species × one-to-one ortholog groups: the input of ortholog baselines.

    Methods that need one shared gene list (scVI/scANVI, PCA, kNN) see multi-species data
    only through orthologs. Every row of ``orthologs`` naming a gene of every species in
    ``species``, and whose genes appear in no other such row (one-to-one), becomes one
    column, named by the first species' gene; each sample takes the value of its own
    species' gene.

    Parameters
    ----------
    adata
        All species in one AnnData (:func:`uge.pp.concat_species`), not changed.
    orthologs
        One column per species with the species' own gene names; default
        ``adata.uns["orthologs"]``.
    species
        Species to keep (samples and table columns); default every species of ``adata``
        that has a column in the table.
    species_key, gene_key, layer
        As in :meth:`uge.UGE.setup_anndata` and :func:`uge.pp.concat_species`.

    Returns
    -------
    anndata.AnnData
        Samples (``obs`` copied, in the order of ``adata``) × ortholog groups; ``var`` has
        one column per species with that species' gene.
    """
    import anndata as ad
    import scipy.sparse as sp

    if orthologs is None:
        if "orthologs" not in adata.uns:
            raise ValueError(
                "Pass `orthologs` (one column per species) or store the table in "
                "adata.uns['orthologs'] (uge.pp.concat_species does)."
            )
        orthologs = adata.uns["orthologs"]
    obs_species = adata.obs[species_key].astype(str)
    table = pd.DataFrame(orthologs)
    if species is None:
        species = [s for s in obs_species.unique() if s in table.columns]
    missing = [s for s in species if s not in table.columns or s not in set(obs_species)]
    if len(species) < 2 or missing:
        raise ValueError(
            f"Need at least two species with samples in adata.obs[{species_key!r}] and a column "
            f"in `orthologs`; species {missing or species} do not qualify (table columns: "
            f"{list(table.columns)})."
        )
    names = adata.var[gene_key].astype(str) if gene_key in adata.var else adata.var_names
    position = pd.Series(
        np.arange(adata.n_vars),
        index=pd.MultiIndex.from_arrays([adata.var[species_key].astype(str), names]),
    )
    position = position[~position.index.duplicated()]
    table = table[species].dropna().astype(str)
    cols = {}
    for s in species:
        cols[s] = position.reindex(pd.MultiIndex.from_arrays([[s] * len(table), table[s]]))
    ok = np.logical_and.reduce([c.notna().to_numpy() for c in cols.values()])
    for s in species:
        ok &= ~table[s].duplicated(keep=False).to_numpy()
    if not ok.any():
        raise ValueError(
            f"No one-to-one ortholog group names a gene of every species {species} in adata; "
            f"compare the table's gene names with adata.var[{gene_key!r}]."
        )
    x = adata.X if layer is None else adata.layers[layer]
    keep = obs_species.isin(species).to_numpy()
    blocks, rows = [], []
    for s in species:
        r = np.flatnonzero((obs_species == s).to_numpy())
        block = x[r][:, cols[s].to_numpy()[ok].astype(np.int64)]
        blocks.append(sp.csr_matrix(block) if sp.issparse(block) else np.asarray(block))
        rows.append(r)
    stack = sp.vstack(blocks).tocsr() if sp.issparse(blocks[0]) else np.vstack(blocks)
    order = np.argsort(np.concatenate(rows), kind="stable")
    var = pd.DataFrame({s: table[s].to_numpy()[ok] for s in species})
    var.index = pd.Index(var[species[0]].to_numpy(), name=None)
    return ad.AnnData(stack[order], obs=adata.obs[keep].copy(), var=var)
