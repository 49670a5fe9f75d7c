"""Reactomes (per gene, its change under each condition in each label) and gene mapping."""

from __future__ import annotations

from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from uge.pp._chunks import row_chunks
from uge.pp._validate import check_expression

TARGET_SUM = 1e4
PSEUDOCOUNT = 0.1  # counts per 10k added to group means before the log
SEP = "|"


def log_normalised(x, counts: bool, log: bool = True):
    """Sparse-preserving ``log1p(counts per 10k)`` of counts (``log=False``: counts per 10k);
    the values themselves otherwise."""
    if not counts:
        return x
    totals = np.asarray(x.sum(1)).ravel()
    scale = TARGET_SUM / np.maximum(totals, 1.0)
    if sparse.issparse(x):
        out = sparse.csr_matrix(sparse.diags(scale) @ x, dtype=np.float64)
        if log:
            out.data = np.log1p(out.data)
        return out
    out = np.asarray(x, dtype=np.float64) * scale[:, None]
    return np.log1p(out) if log else out


def group_moments(
    x, rows: np.ndarray, cols: np.ndarray, groups: np.ndarray, counts: bool
) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
    """Per group of samples, the mean and mean square of each gene's expression.

    Over the samples ``rows`` (``groups`` holds their groups) and genes ``cols`` of ``x``
    (dense, sparse or backed), in counts per 10k of the samples' totals over all genes
    (``counts``) or as the values are. ``x`` is read in chunks of rows
    (:func:`uge.pp._chunks.row_chunks`) and never densified.

    Returns the group names, the ``(n_groups, n_genes)`` means and mean squares, and the
    group sizes.
    """
    codes, names = pd.factorize(pd.Series(groups), sort=True)
    sums, squares = np.zeros((2, len(names), len(cols)))
    for idx, block in row_chunks(x, rows):
        block = log_normalised(block, counts, log=False)[:, cols]
        part = codes[np.searchsorted(rows, idx)]
        onehot = sparse.csr_matrix(
            (np.ones(len(part)), (part, np.arange(len(part)))), shape=(len(names), len(part))
        )
        power = block.multiply(block) if sparse.issparse(block) else block**2
        for total, values in ((sums, block), (squares, power)):
            add = onehot @ values
            total += add.toarray() if sparse.issparse(add) else np.asarray(add)
    sizes = np.bincount(codes, minlength=len(names)).astype(np.float64)
    return pd.Index(names), sums / sizes[:, None], squares / sizes[:, None], sizes


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
        with) needs at least this many samples (at least 2) of the species; otherwise the
        gene's entry is NaN ("not measured"), never 0.
    key_added
        ``adata.varm`` key to write; the column names go to ``adata.uns["uge"][key_added]``.
        ``None`` writes nothing.

    Returns
    -------
    pandas.DataFrame
        Genes (``var_names``) × columns; NaN where the gene's species did not measure the
        group. Also written to ``adata.varm[key_added]``.
    """
    table = _compute_reactome(
        adata, species_key, labels_key, condition_key, control_condition, layer, min_samples
    )
    if key_added is not None:
        adata.varm[key_added] = table.to_numpy()
        adata.uns.setdefault("uge", {})[key_added] = {
            "columns": np.asarray(table.columns, dtype=object),
            "labels_key": labels_key or "",
            "condition_key": condition_key or "",
            "control_condition": control_condition,
            "min_samples": int(min_samples),
        }
    return table


def _compute_reactome(
    adata: ad.AnnData,
    species_key: str,
    labels_key: str | None,
    condition_key: str | None,
    control_condition: str,
    layer: str | None,
    min_samples: int,
    with_se: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """The reactome table; with ``with_se``, also the standard error of every entry."""
    obs, var = adata.obs, adata.var
    for key, frame, where in (
        (species_key, obs, "obs"),
        (species_key, var, "var"),
        (labels_key, obs, "obs"),
        (condition_key, obs, "obs"),
    ):
        if key is not None and key not in frame:
            raise KeyError(f"adata.{where}[{key!r}] not found; pass the right key.")
    if labels_key is None and condition_key is None:
        raise ValueError(
            "A reactome needs labels (labels_key, e.g. organ or cell type), conditions "
            "(condition_key, e.g. drug) or both."
        )
    if not isinstance(min_samples, int | np.integer) or min_samples < 2:
        raise ValueError(f"min_samples must be an integer >= 2, got {min_samples!r}.")
    x = adata.X if layer is None else adata.layers[layer]
    counts = check_expression(x, "adata.X" if layer is None else f"layer {layer!r}")
    species = obs[species_key].astype(str).to_numpy()
    gene_species = var[species_key].astype(str).to_numpy()
    labels = obs[labels_key].astype(str).to_numpy() if labels_key else np.full(len(obs), "all")
    if condition_key is not None:
        cond = obs[condition_key].astype(str).to_numpy()
        if not (cond == control_condition).any():
            raise ValueError(
                f"No sample has {condition_key}={control_condition!r}: the reactome compares "
                "each condition with the control. Pass the right `control_condition`."
            )
        groups = np.char.add(np.char.add(labels.astype(str), SEP), cond.astype(str))
        columns = sorted({g for g, c in zip(groups, cond, strict=True) if c != control_condition})
    else:
        cond = None
        groups = labels
        columns = sorted(set(labels))
    out = np.full((adata.n_vars, len(columns)), np.nan)
    err = np.full_like(out, np.nan)
    col_pos = {c: i for i, c in enumerate(columns)}
    for sp in np.unique(species):
        rows, cols = np.flatnonzero(species == sp), np.flatnonzero(gene_species == sp)
        if not len(cols):
            continue
        names, means, squares, sizes = group_moments(x, rows, cols, groups[rows], counts)
        var_ = np.maximum(squares - means**2, 0.0)
        se2 = var_ / np.maximum(sizes - 1, 1)[:, None]
        if counts:  # delta method for the log of the mean
            se2 = se2 / (means + PSEUDOCOUNT) ** 2
            means = np.log(means + PSEUDOCOUNT)
        ok = sizes >= min_samples
        means = pd.DataFrame(means[ok], index=names[ok])
        se2 = pd.DataFrame(se2[ok], index=names[ok])
        for name in means.index:
            if cond is None:
                # the label's profile, centred on the gene's mean over the measured labels
                value, var2 = means.loc[name] - means.mean(axis=0), se2.loc[name]
            else:
                lab, c = name.rsplit(SEP, 1)
                ctrl = f"{lab}{SEP}{control_condition}"
                if c == control_condition or ctrl not in means.index:
                    continue
                value, var2 = means.loc[name] - means.loc[ctrl], se2.loc[name] + se2.loc[ctrl]
            # a change shared by most genes is the compositional effect of normalising to
            # a total count, not a response: centre each column on its median gene
            out[cols, col_pos[name]] = value.to_numpy() - np.median(value.to_numpy())
            err[cols, col_pos[name]] = np.sqrt(var2.to_numpy())
    if not columns or np.isnan(out).all():
        raise ValueError(
            f"No group has {min_samples} samples (and, with conditions, a control of the same "
            "species and label): no reactome column could be measured. Lower `min_samples` "
            "or check the keys."
        )
    table = pd.DataFrame(out, index=adata.var_names, columns=columns)
    if with_se:
        return table, pd.DataFrame(err, index=adata.var_names, columns=columns)
    return table


def _reactome_frame(adata: ad.AnnData, key: str) -> pd.DataFrame:
    if key not in adata.varm:
        raise KeyError(
            f"adata.varm[{key!r}] not found: compute it first with uge.tl.reactome(adata, ...)."
        )
    columns = adata.uns.get("uge", {}).get(key, {}).get("columns")
    values = np.asarray(adata.varm[key], dtype=np.float64)
    columns = list(columns) if columns is not None else list(range(values.shape[1]))
    return pd.DataFrame(values, index=adata.var_names, columns=columns)


def species_genes(var: pd.DataFrame, species_key: str, name: str, what: str) -> pd.Index:
    """The ``var_names`` of one species, or an error naming the species present."""
    if species_key not in var:
        raise KeyError(f"adata.var[{species_key!r}] not found; pass the right `species_key`.")
    sp = var[species_key].astype(str)
    if name not in set(sp):
        raise ValueError(f"{what}={name!r} is not a species of adata; found {sorted(set(sp))}.")
    return var.index[(sp == name).to_numpy()]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of the rows of ``a`` with the rows of ``b`` (zero rows give 0)."""
    a = a / np.linalg.norm(a, axis=1, keepdims=True).clip(1e-12)
    b = b / np.linalg.norm(b, axis=1, keepdims=True).clip(1e-12)
    return a @ b.T


def response_similarity(a: np.ndarray, b: np.ndarray, paired: bool = False) -> np.ndarray:
    """``2 <a, b> / (|a|² + |b|²)`` of the rows of ``a`` and ``b``: 1 for equal responses.

    Unlike the cosine it tells responses of the same direction but another size apart
    (two genes that go up 2-fold and 8-fold under the same drugs are not the same
    response); it is ``1 - |a - b|² / (|a|² + |b|²)``, in [-1, 1]. All rows of ``a``
    against all of ``b`` (``len(a) × len(b)``), or row ``i`` against row ``i`` only with
    ``paired=True``.
    """
    na, nb = (a**2).sum(1), (b**2).sum(1)
    if paired:
        return 2 * (a * b).sum(1) / np.maximum(na + nb, 1e-12)
    return 2 * (a @ b.T) / np.maximum(na[:, None] + nb[None, :], 1e-12)


def top_k_table(
    scores: np.ndarray,
    source: pd.Index,
    target: pd.Index,
    top_k: int,
    prior: set | None = None,
) -> pd.DataFrame:
    """Long table of each source gene's ``top_k`` target genes by ``scores`` (source × target)."""
    if not isinstance(top_k, int | np.integer) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
    k = min(int(top_k), scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(len(source)), k)
    cols = order.ravel()
    out = pd.DataFrame(
        {
            "source_gene": source[rows].to_numpy(),
            "target_gene": target[cols].to_numpy(),
            "score": scores[rows, cols],
            "rank": np.tile(np.arange(1, k + 1), len(source)),
        }
    )
    if prior is not None:
        out["in_prior"] = [
            (s, t) in prior for s, t in zip(out["source_gene"], out["target_gene"], strict=True)
        ]
    return out


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
    table = _reactome_frame(adata, key)
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
    from uge.pp._orthologs import ortholog_pairs

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
    x = log_normalised(x, check_expression(x))
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
