"""Model inputs derived from the registered AnnData: gene species, token genes, gene pairs."""

from __future__ import annotations

import logging
import warnings

import anndata as ad
import numpy as np
from scipy import sparse

from uge.core import check_positive_int, log_normalise, row_chunks, scan_expression

logger = logging.getLogger(__name__)


def choose_likelihood(x, requested: str, where: str) -> str:
    """Pick the likelihood for the expression matrix ``x``: counts get ``"nb"``.

    ``requested="auto"`` detects integer counts; a declared ``"nb"`` on non-integer values
    raises; the choice is logged.
    """
    if requested not in ("auto", "nb", "gaussian"):
        raise ValueError(f"likelihood must be 'auto', 'nb' or 'gaussian', got {requested!r}.")
    is_counts, vmax = scan_expression(x, where)
    if requested == "nb" and not is_counts:
        raise ValueError(
            f"likelihood='nb' declares raw counts, but {where} holds non-integer values. Pass "
            "the layer with raw counts (`UGE.setup_anndata(adata, layer='counts')`) or use "
            "likelihood='gaussian' for log-normalised data."
        )
    likelihood = requested if requested != "auto" else ("nb" if is_counts else "gaussian")
    if likelihood == "gaussian":
        if is_counts and vmax > 30:
            warnings.warn(
                f"{where} looks like raw counts (integers up to {vmax:.0f}) but a Gaussian "
                "likelihood is used. Use likelihood='nb', or log-normalise first "
                "(sc.pp.normalize_total + sc.pp.log1p).",
                UserWarning,
                stacklevel=3,
            )
        elif vmax > 30:
            warnings.warn(
                f"{where} is not integer counts and reaches {vmax:.3g}: it does not look "
                "log-transformed. The Gaussian likelihood expects log-normalised values "
                "(sc.pp.normalize_total + sc.pp.log1p).",
                UserWarning,
                stacklevel=3,
            )
        logger.info(
            "%s is not integer counts: modelling it as log-normalised expression with a "
            "Gaussian likelihood.",
            where,
        )
    else:
        logger.info("%s holds integer counts: using a negative binomial likelihood.", where)
    return likelihood


def check_params(**params: float | str) -> None:
    """Raise a clear error for model hyperparameters out of range, before any work."""
    for name in ("d_model", "n_layers", "n_heads", "n_latent", "n_hidden", "max_tokens"):
        check_positive_int(name, params[name])
    if params["d_model"] % params["n_heads"]:
        raise ValueError(
            f"d_model ({params['d_model']}) must be divisible by n_heads ({params['n_heads']}): "
            "each attention head gets d_model / n_heads dimensions."
        )
    if params["token_ranking"] not in ("expression", "relative"):
        raise ValueError(
            f"token_ranking must be 'expression' or 'relative', got {params['token_ranking']!r}."
        )
    if not 0 <= params["dropout"] < 1:
        raise ValueError(f"dropout must be in [0, 1), got {params['dropout']!r}.")
    for name in ("gene_align_weight", "latent_align_weight"):
        if not params[name] >= 0:
            raise ValueError(f"{name} must be 0 or more, got {params[name]!r}.")
    if not -1 <= params["min_similarity"] <= 1:
        raise ValueError(
            f"min_similarity is a similarity in [-1, 1], got {params['min_similarity']!r}."
        )


def gene_statistics(
    x, rows: np.ndarray, cols: np.ndarray, likelihood: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard deviation of genes' log-normalised expression, and their baseline.

    Over the samples ``rows`` and genes ``cols`` of ``x`` (dense, sparse or backed), read in
    chunks of rows (:func:`uge.core.row_chunks`): memory does not grow with the number
    of samples, and sparse data are never densified. Library sizes are the samples' totals
    over ``cols``. The baseline is the log of the genes' mean share of their sample's counts
    (counts) or their mean value (log-normalised input).
    """
    total, squares, share = (np.zeros(len(cols)) for _ in range(3))
    for _, block in row_chunks(x, rows, cols):
        block = (
            sparse.csr_matrix(block, dtype=np.float64)
            if sparse.issparse(block)
            else np.asarray(block, np.float64)
        )
        xs = log_normalise(block, likelihood != "gaussian")
        total += np.asarray(xs.sum(0)).ravel()
        squares += np.asarray((xs.multiply(xs) if sparse.issparse(xs) else xs**2).sum(0)).ravel()
        if likelihood != "gaussian":
            lib = np.maximum(np.asarray(block.sum(1)).ravel(), 1)
            share += np.asarray((sparse.diags(1 / lib) @ block).sum(0)).ravel()
    n = max(len(rows), 1)
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
    baseline = mean if likelihood == "gaussian" else np.log(share / n + 1e-8)
    return mean, std, baseline


def token_genes(
    adata: ad.AnnData,
    x,
    obs_species: np.ndarray,
    gene_species: np.ndarray,
    n_species: int,
    max_tokens: int,
    likelihood: str,
    pairs: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Token genes of each species and per-gene statistics of its expression.

    Token genes are ``var["highly_variable"]`` (as written by
    ``sc.pp.highly_variable_genes``) when present; otherwise each species' ``max_tokens``
    genes with the highest variance of log-normalised expression across its samples, where a
    gene paired with genes of other species (``pairs``) counts with the highest variance of
    its pair, so that species pick corresponding genes as tokens.

    Returns
    -------
    tuple
        ``(S, G)`` boolean token-gene mask; the ``(G,)`` mean and standard deviation of
        every gene's log-normalised expression over its species' samples (for relative
        values); and the ``(G,)`` starting decoder baseline: the log of the gene's mean
        share of its sample's counts (counts) or its mean value (log-normalised input).
    """
    n_genes = len(gene_species)
    mean, std, baseline = np.zeros(n_genes), np.ones(n_genes), np.zeros(n_genes)
    for s in range(n_species):
        cols = np.flatnonzero(gene_species == s)
        rows = np.flatnonzero(obs_species == s)
        mean[cols], std[cols], baseline[cols] = gene_statistics(x, rows, cols, likelihood)
    hvg = adata.var["highly_variable"].to_numpy(bool) if "highly_variable" in adata.var else None
    cand = choose_token_genes(std**2, gene_species, n_species, max_tokens, hvg, pairs)
    return cand, mean, np.maximum(std, 0.1), baseline


def choose_token_genes(
    score: np.ndarray,
    gene_species: np.ndarray,
    n_species: int,
    max_tokens: int,
    hvg: np.ndarray | None = None,
    pairs: np.ndarray | None = None,
    species: list[int] | None = None,
) -> np.ndarray:
    """``(n_species, G)`` token-gene mask of ``species`` (ids; ``None`` for all; other rows
    stay empty).

    A species' token genes are its ``hvg`` genes when it has any, else its ``max_tokens``
    genes of highest ``score`` (variance), a paired gene counting with the highest score
    of its pair.
    """
    score = np.asarray(score, dtype=np.float64).copy()
    if pairs is not None and len(pairs):
        pair_score = np.maximum(score[pairs[:, 0]], score[pairs[:, 1]])
        np.maximum.at(score, pairs[:, 0], pair_score)
        np.maximum.at(score, pairs[:, 1], pair_score)
    cand = np.zeros((n_species, len(gene_species)), dtype=bool)
    for s in range(n_species) if species is None else species:
        cols = np.flatnonzero(gene_species == s)
        if hvg is not None and hvg[cols].any():
            cand[s, cols[hvg[cols]]] = True
        else:
            cand[s, cols[np.argsort(-score[cols], kind="stable")[:max_tokens]]] = True
    return cand
