"""Reactomes (per gene, its change under each condition in each label) and gene mapping."""

from __future__ import annotations

from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from uge.core import (
    check_expression,
    compute_reactome,
    cosine,
    log_normalise,
    ortholog_pairs,
    reactome_frame,
    response_similarity,
    species_genes,
    top_k_table,
    write_params,
)


def reactome(
    adata: ad.AnnData,
    species_key: str = "species",
    labels_key: str | None = None,
    condition_key: str | None = None,
    control_condition: str = "control",
    layer: str | None = None,
    min_samples: int = 3,
    key_added: str | None = "uge_reactome",
) -> pd.DataFrame:
    """Per gene, its expression change under each condition in each label (its reactome).

    The reactome of a gene (paper, section 1) is its log fold change under each drug in each
    organ: here the natural log of the group's mean expression, for counts
    ``log(mean counts per 10k + 0.1)`` (the values' mean for log-normalised input), in one
    ``(label, condition)`` group minus that of the control samples of the same species and
    label. (The log of the mean, not the mean of ``log1p``: the latter shrinks the changes
    of lowly expressed genes, so that equal responses at different expression levels would
    look different.) Each column is then centred on the median over the species' genes: a
    change shared by most genes is the compositional effect of normalising to a total
    count, not a response. Genes of different species
    are compared column by column (:func:`map_genes_by_reactome`), so the columns are shared
    by all species: every ``"<label>|<condition>"`` measured in any species.

    Without ``condition_key``, a gene's profile over the labels, centred per gene (its mean
    over its species' measured labels subtracted), serves as its response vector, so cell-type
    or organ atlases are handled by the same machinery (columns ``"<label>"``).

    Parameters
    ----------
    adata
        Samples of all species (:func:`uge.pp.concat_species`): ``obs[species_key]`` and
        ``var[species_key]``.
    species_key
        Column of ``obs`` and ``var`` with each sample's and gene's species.
    labels_key
        ``obs`` column with labels (organs, cell types); ``None`` treats all samples as one
        label ``"all"`` (then ``condition_key`` is needed).
    condition_key
        ``obs`` column with conditions (drugs); ``None`` gives label profiles.
    control_condition
        The untreated value of ``obs[condition_key]``.
    layer
        Layer with the expression; ``None`` for ``X``. Integer counts are log-normalised.
    min_samples
        The stated rule for small groups: a group (and the control group it is compared
        with) needs at least this many samples of the species; otherwise the gene's entry
        is NaN ("not measured"), never 0. 1 accepts groups of a single sample, e.g. the
        organ means of an expression atlas (their standard errors are then unknown, so
        such entries never count as significant responses).
    key_added
        ``adata.varm`` key to write; the column names go to
        ``adata.uns["uge"][key_added]["columns"]`` and the arguments to
        ``adata.uns["uge"][key_added]["params"]``. ``None`` writes nothing.

    Returns
    -------
    pandas.DataFrame
        Genes (``var_names``) × columns; NaN where the gene's species did not measure the
        group. Also written to ``adata.varm[key_added]``.
    """
    table, _ = compute_reactome(
        adata, species_key, labels_key, condition_key, control_condition, layer, min_samples
    )
    if key_added is not None:
        adata.varm[key_added] = table.to_numpy()
        params = {
            "species_key": species_key,
            "labels_key": labels_key or "",
            "condition_key": condition_key or "",
            "control_condition": control_condition,
            "layer": layer or "",
            "min_samples": int(min_samples),
        }
        write_params(adata, key_added, params, columns=np.asarray(table.columns, dtype=object))
    return table


def map_genes_by_reactome(
    adata: ad.AnnData,
    source_species: str,
    target_species: str,
    top_k: int = 10,
    species_key: str = "species",
    key: str = "uge_reactome",
    similarity: Literal["response", "cosine"] = "response",
) -> pd.DataFrame:
    """Map genes across species by the similarity of their reactomes (the direct baseline).

    Each source gene's reactome is compared with every target gene's over the columns both
    species measured (not NaN in either) by :func:`response_similarity` (1 for equal
    changes; it also tells changes of one direction but different sizes apart) or the
    cosine. Genes that never change score 0 with everything.

    Parameters
    ----------
    adata
        AnnData with ``varm[key]`` from :func:`reactome`.
    source_species, target_species
        Species to map from and to.
    top_k
        Target genes kept per source gene.
    species_key
        ``var`` column with each gene's species.
    key
        ``varm`` key of the reactome.
    similarity
        ``"response"`` or ``"cosine"``.

    Returns
    -------
    pandas.DataFrame
        ``source_gene``, ``target_gene`` (``var_names``), ``score`` and ``rank`` (1 = best),
        ``top_k`` rows per source gene.
    """
    if similarity not in ("response", "cosine"):
        raise ValueError(f"similarity must be 'response' or 'cosine', got {similarity!r}.")
    table = reactome_frame(adata, key)
    src = species_genes(adata.var, species_key, source_species, "source_species")
    tgt = species_genes(adata.var, species_key, target_species, "target_species")
    if source_species == target_species:
        raise ValueError("source_species and target_species must differ.")
    a, b = table.loc[src], table.loc[tgt]
    shared = a.notna().all(axis=0) & b.notna().all(axis=0)
    if not shared.any():
        raise ValueError(
            f"{source_species} and {target_species} measured no reactome column in common "
            f"(of {table.shape[1]}): the reactomes cannot be compared. Measure at least one "
            "(label, condition) group in both species."
        )
    fn = response_similarity if similarity == "response" else cosine
    scores = fn(a.loc[:, shared].to_numpy(), b.loc[:, shared].to_numpy())
    return top_k_table(scores, src, tgt, top_k)


def map_genes_by_coexpression(
    adata: ad.AnnData,
    source_species: str,
    target_species: str,
    orthologs: pd.DataFrame,
    top_k: int = 10,
    species_key: str = "species",
    gene_key: str = "gene",
    layer: str | None = None,
) -> pd.DataFrame:
    """Map genes across species by their co-expression with anchor orthologs (a baseline).

    Within each species, every gene's Pearson correlation with each anchor gene (a gene of
    an ``orthologs`` pair) over that species' samples (log-normalised) gives its co-expression
    profile; profiles are comparable across species because the anchors are paired. A source
    gene's score with a target gene is the Pearson correlation of their profiles.

    Parameters
    ----------
    adata
        Both species (:func:`uge.pp.concat_species`).
    source_species, target_species
        Species to map from and to.
    orthologs
        Anchor pairs: one column per species with the species' own gene names (as for
        :class:`uge.UGE`); one-to-one pairs are used.
    top_k
        Target genes kept per source gene.
    species_key, gene_key, layer
        As in :meth:`uge.UGE.setup_anndata` and :func:`uge.pp.concat_species`.

    Returns
    -------
    pandas.DataFrame
        As :func:`map_genes_by_reactome`.
    """
    src = species_genes(adata.var, species_key, source_species, "source_species")
    tgt = species_genes(adata.var, species_key, target_species, "target_species")
    pairs = ortholog_pairs(
        orthologs, adata.var, species_key, [source_species, target_species], gene_key
    )
    names = adata.var_names
    gene_sp = adata.var[species_key].astype(str).to_numpy()
    a, b = pairs[:, 0], pairs[:, 1]
    flip = gene_sp[a] != source_species
    a, b = np.where(flip, b, a), np.where(flip, a, b)
    one = (
        ~pd.Series(a).duplicated(keep=False).to_numpy()
        & ~pd.Series(b).duplicated(keep=False).to_numpy()
    )
    a, b = a[one], b[one]
    if len(a) < 2:
        raise ValueError(
            f"`orthologs` pairs fewer than 2 one-to-one genes of {source_species} and "
            f"{target_species} in adata: co-expression needs anchor genes."
        )
    x = adata.X if layer is None else adata.layers[layer]
    x = log_normalise(x, check_expression(x))
    obs_sp = adata.obs[species_key].astype(str).to_numpy()

    def profiles(sp: str, genes: pd.Index, anchors: np.ndarray) -> np.ndarray:
        cols = names.get_indexer(genes)
        sub = x[np.flatnonzero(obs_sp == sp)]
        sub = sub.toarray() if sparse.issparse(sub) else np.asarray(sub)
        z = sub - sub.mean(0)
        z /= np.linalg.norm(z, axis=0).clip(1e-12)
        return z[:, cols].T @ z[:, anchors]  # genes × anchors correlations

    pa, pb = profiles(source_species, src, a), profiles(target_species, tgt, b)
    pa -= pa.mean(1, keepdims=True)
    pb -= pb.mean(1, keepdims=True)
    return top_k_table(cosine(pa, pb), src, tgt, top_k)


def evaluate_gene_mapping(
    mapping: pd.DataFrame,
    reference: pd.DataFrame,
    kind_key: str | None = "kind",
    ks: tuple[int, ...] = (1, 10),
) -> pd.DataFrame:
    """Hit rates and mean reciprocal rank of a gene mapping against known pairs.

    For every reference pair (``source_gene``, ``target_gene``), the rank of the true target
    among the mapping's candidates for that source gene counts only the wrong candidates
    above it (a source gene with two true partners, e.g. one-to-many, can have both at rank
    1). A pair is a hit at ``k`` when that rank is at most ``k``; its reciprocal rank is 0
    when the target is not among the mapping's candidates (beyond its ``top_k``).

    Parameters
    ----------
    mapping
        ``source_gene``, ``target_gene``, ``rank`` (from :meth:`uge.UGE.map_genes`,
        :func:`map_genes_by_reactome`, ...).
    reference
        True pairs: ``source_gene``, ``target_gene`` and optionally ``kind_key`` (e.g. the
        simulator's ``uns["uge_truth"]["functional_map"]``).
    kind_key
        Column of ``reference`` to break the scores down by; ``None`` for overall only.
    ks
        The ``k`` of the hit rates.

    Returns
    -------
    pandas.DataFrame
        Rows ``"overall"`` and one per kind; columns ``n``, ``top<k>`` for each ``k`` and
        ``mrr``.
    """
    for frame, name, cols in (
        (mapping, "mapping", ("source_gene", "target_gene", "rank")),
        (reference, "reference", ("source_gene", "target_gene")),
    ):
        missing = [c for c in cols if c not in frame]
        if missing:
            raise KeyError(f"{name} lacks the columns {missing}; it needs {list(cols)}.")
    if len(reference) == 0:
        raise ValueError("reference holds no gene pairs to evaluate.")
    true = set(zip(reference["source_gene"], reference["target_gene"], strict=True))
    m = mapping.sort_values(["source_gene", "rank"], kind="stable")
    is_true = np.array(
        [(s, t) in true for s, t in zip(m["source_gene"], m["target_gene"], strict=True)]
    )
    # filtered rank: 1 + wrong candidates ranked above
    wrong_above = pd.Series(~is_true, index=m.index).groupby(
        m["source_gene"].to_numpy()
    ).cumsum() - (~is_true).astype(int)
    rank = pd.Series(
        (wrong_above + 1).to_numpy(),
        index=pd.MultiIndex.from_arrays([m["source_gene"].to_numpy(), m["target_gene"].to_numpy()]),
    )
    rank = rank[~rank.index.duplicated()]
    found = rank.reindex(
        pd.MultiIndex.from_arrays([reference["source_gene"], reference["target_gene"]])
    ).to_numpy(dtype=float)
    scores = pd.DataFrame({f"top{k}": np.nan_to_num(found, nan=np.inf) <= k for k in ks})
    scores["mrr"] = np.where(np.isnan(found), 0.0, 1.0 / np.nan_to_num(found, nan=1.0))
    groups = {"overall": np.ones(len(reference), dtype=bool)}
    if kind_key is not None and kind_key in reference:
        kinds = reference[kind_key].astype(str).to_numpy()
        groups.update({k: kinds == k for k in sorted(set(kinds))})
    rows = {
        name: {"n": int(sel.sum()), **scores[sel].mean().to_dict()} for name, sel in groups.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")
