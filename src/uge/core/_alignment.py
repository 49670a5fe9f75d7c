"""Gene alignment targets: which genes of different species the model ties together.

Pairs come from the ortholog prior, from reactome similarity (paper 3.5), or both. The
model anchors each paired gene on its partners (:class:`uge.module.GeneEmbedding`).
"""

from __future__ import annotations

import logging
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd

from ._reactome import compute_reactome
from ._similarity import response_similarity

logger = logging.getLogger(__name__)

GeneAlignment = Literal["both", "orthologs", "reactome"]
PRIOR_BONUS = 0.3  # added to the reactome similarity of ortholog pairs
RESPONSIVE_Z = 4.0  # a responsive gene changes by this many standard errors somewhere
MIN_AGREEMENT = 0.3  # reactome matches are used only at scores where they agree with the prior
MIN_CALIBRATION = 20  # matches needed to measure that agreement
MAX_PER_GENE = 100  # most candidate partners kept per gene (bounds memory)


def shrunk(values: np.ndarray, se: np.ndarray, z: float = 1.0) -> np.ndarray:
    """Soft-threshold each entry at ``z`` standard errors: changes within noise become 0."""
    return np.sign(values) * np.maximum(np.abs(values) - z * se, 0.0)


def greedy_matching(
    i: np.ndarray, j: np.ndarray, score: np.ndarray, is_prior: np.ndarray, min_score: float
) -> tuple[np.ndarray, np.ndarray]:
    """Match rows and columns of scored pairs ``(i, j, score)``, highest scores first.

    A prior pair (``is_prior``) is taken unless one of its genes is already matched outside
    the prior (a gene may keep several prior partners, e.g. one-to-many orthologs); a pair
    outside the prior with a score of at least ``min_score`` is taken when neither gene is
    matched yet. Ties are broken by row, then column.
    """
    keep = is_prior | (score >= min_score)
    i, j, score, is_prior = i[keep], j[keep], score[keep], is_prior[keep]
    order = np.lexsort((j, i, -score))
    any_i, any_j, new_i, new_j, out = set(), set(), set(), set(), []
    for a, b, prior in zip(i[order], j[order], is_prior[order], strict=True):
        if prior:
            if a in new_i or b in new_j:
                continue
        elif a in any_i or b in any_j:
            continue
        else:
            new_i.add(a)
            new_j.add(b)
        any_i.add(a)
        any_j.add(b)
        out.append((a, b))
    out = np.asarray(out, dtype=np.int64).reshape(-1, 2)
    return out[:, 0], out[:, 1]


def similar_pairs(
    a: np.ndarray,
    b: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    min_score: float,
    max_per_gene: int = MAX_PER_GENE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of ``rows`` of ``a`` and ``cols`` of ``b`` whose response similarity is at least
    ``min_score``: ``(i, j, score)``, at most ``max_per_gene`` best per row.

    Computed in blocks of rows, so memory grows with the pairs kept, not with
    ``len(a) * len(b)``.
    """
    out_i, out_j, out_s = [], [], []
    step = max(1, 2**22 // max(len(cols), 1))
    for first in range(0, len(rows), step):
        block = rows[first : first + step]
        s = response_similarity(a[block], b[cols])
        s[s < min_score] = -np.inf
        k = min(max_per_gene, s.shape[1])
        top = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < s.shape[1] else None
        if top is not None:
            s = np.take_along_axis(s, top, 1)
        r, c = np.nonzero(np.isfinite(s))
        out_i.append(block[r])
        out_j.append(cols[c] if top is None else cols[top[r, c]])
        out_s.append(s[r, c])
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)


def calibrated_threshold(
    i: np.ndarray, j: np.ndarray, score: np.ndarray, prior: np.ndarray, min_score: float
) -> float:
    """Lowest score at which reactome matches agree with the ortholog prior often enough.

    ``(i, j, score)`` are the candidate pairs (:func:`similar_pairs`), ``prior`` the
    ``(P, 2)`` prior pairs. Genes in prior pairs are matched by reactome alone (no bonus).
    Going down from the best match, the share of prior pairs among the matches so far must
    stay at least ``MIN_AGREEMENT`` (counted from the ``MIN_CALIBRATION``-th match on).
    Returns the score of the last match before it first falls short (not below
    ``min_score``), or ``inf`` when it falls short by the ``MIN_CALIBRATION``-th match: then
    the reactome cannot tell orthologs apart in these data and only the prior is used.
    """
    sub = np.isin(i, prior[:, 0]) & np.isin(j, prior[:, 1])
    i, j, score = i[sub], j[sub], score[sub]
    # greedy matching returns its matches best first
    mi, mj = greedy_matching(i, j, score, np.zeros(len(i), bool), min_score)
    if len(mi) < MIN_CALIBRATION:
        return np.inf
    width = max(int(j.max(initial=0)), int(prior[:, 1].max(initial=0))) + 1
    agree = np.isin(mi * width + mj, prior[:, 0] * width + prior[:, 1])
    agree = np.cumsum(agree) / np.arange(1, len(mi) + 1)
    # the best matches must agree from the start: stop at the first cut that falls short
    short = np.flatnonzero(agree[MIN_CALIBRATION - 1 :] < MIN_AGREEMENT)
    last = len(mi) if not len(short) else MIN_CALIBRATION - 1 + short[0]
    if last < MIN_CALIBRATION:
        return np.inf
    a, b = mi[last - 1], mj[last - 1]
    return float(score[(i == a) & (j == b)][0])


def _prior_components(
    species: list[str], gene_species: np.ndarray, prior: np.ndarray
) -> dict[str, int]:
    """Species joined by ortholog pairs, directly or through other species: a component id
    per species (species without any pair each form their own)."""
    comp = {s: i for i, s in enumerate(species)}
    links = {(gene_species[a], gene_species[b]) for a, b in prior}
    for _ in species:
        for a, b in links:
            if a in comp and b in comp:
                comp[a] = comp[b] = min(comp[a], comp[b])
    return comp


def measured_reactome(adata: ad.AnnData, setup_args: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reactome of the registered data (labelled samples) and its standard errors."""
    lkey = setup_args["labels_key"]
    unlabeled = setup_args.get("unlabeled_category")
    if lkey is not None and unlabeled is not None:  # unlabelled samples have no label group
        adata = adata[(adata.obs[lkey].astype(str) != str(unlabeled)).to_numpy()]
    return compute_reactome(
        adata,
        setup_args["species_key"],
        lkey,
        setup_args["condition_key"],
        setup_args["control_condition"],
        setup_args["layer"],
        3,
    )


def alignment_pairs(
    adata: ad.AnnData,
    setup_args: dict,
    species: list[str],
    prior: np.ndarray,
    mode: GeneAlignment,
    min_similarity: float,
    prior_bonus: float = PRIOR_BONUS,
) -> tuple[np.ndarray, dict]:
    """Gene pairs to align, as ``(P, 2)`` indices into ``adata.var``, and a summary.

    ``"orthologs"``: the prior as given. Otherwise, for every two species, the reactomes of
    their genes (:func:`uge.tl.reactome` of the registered labels and conditions, over the
    columns both measured, each change soft-thresholded at one standard error) are compared
    by :func:`uge.core.response_similarity`, only between responsive genes (a change
    beyond 4 standard errors somewhere). ``"reactome"``: genes are matched one to one,
    most similar pairs first, down to ``min_similarity``. ``"both"``: the same matching, with
    ``prior_bonus`` added to the similarity of ortholog pairs; every prior pair is kept
    unless one of its genes was matched to a gene outside the prior (the data override a
    wrong ortholog), and the matches outside the prior are added. In ``"both"``, matches
    outside the prior are trusted only from the score at which reactome matches among the
    prior's genes agree with the prior at least 30% of the time
    (:func:`calibrated_threshold`); where they never do, the prior is used as it is. Two
    species without ortholog pairs of their own but joined through other species' pairs
    (mouse-rat and mouse-human tables, no rat-human one) get no reactome pairs: they are
    aligned through the shared species, and direct reactome matches between them, with
    no prior to calibrate on, were often wrong on the simulator. The data
    override prior pairs of the two species being compared only.
    """
    if mode not in ("both", "orthologs", "reactome"):
        raise ValueError(f"gene_alignment must be 'both', 'orthologs' or 'reactome', got {mode!r}.")
    info = {"mode": mode, "prior": len(prior), "overridden": 0, "added": 0}
    if mode == "orthologs":
        return prior, info
    skey, lkey = setup_args["species_key"], setup_args["labels_key"]
    ckey = setup_args["condition_key"]
    if lkey is None and ckey is None:
        if mode == "reactome":
            raise ValueError(
                "gene_alignment='reactome' needs a reactome, which needs labels or conditions: "
                "register labels_key and/or condition_key in UGE.setup_anndata, or use "
                "gene_alignment='orthologs'."
            )
        logger.info("No labels or conditions registered: gene alignment from orthologs only.")
        info["mode"] = "orthologs"
        return prior, info
    try:
        table, se = measured_reactome(adata, setup_args)
    except ValueError as err:
        if mode == "reactome":
            raise
        logger.warning(
            "No reactome could be measured (%s): gene alignment from orthologs only.", err
        )
        info["mode"] = "orthologs"
        return prior, info
    gene_species = adata.var[skey].astype(str).to_numpy()
    return reactome_pairs(
        table.to_numpy(),
        se.to_numpy(),
        gene_species,
        species,
        prior,
        mode,
        min_similarity,
        prior_bonus,
        info,
    )


def reactome_pairs(
    values: np.ndarray,
    se: np.ndarray,
    gene_species: np.ndarray,
    species: list[str],
    prior: np.ndarray,
    mode: GeneAlignment,
    min_similarity: float,
    prior_bonus: float = PRIOR_BONUS,
    info: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """The matching of :func:`alignment_pairs` ("both" or "reactome"), from a reactome:
    ``values`` and standard errors ``se`` (genes × columns, NaN where unmeasured),
    ``gene_species`` the species name of each gene (row)."""
    if info is None:
        info = {"mode": mode, "prior": len(prior), "overridden": 0, "added": 0}
    prior = prior if mode == "both" else np.zeros((0, 2), dtype=np.int64)
    kept = {tuple(sorted(p)) for p in prior}
    linked = _prior_components(species, gene_species, prior)
    added: list[tuple[int, int]] = []
    for x, sa in enumerate(species):
        for sb in species[x + 1 :]:
            ga, gb = np.flatnonzero(gene_species == sa), np.flatnonzero(gene_species == sb)
            shared = ~np.isnan(values[ga]).all(0) & ~np.isnan(values[gb]).all(0)
            if not shared.any():
                logger.info("%s and %s share no reactome column: no reactome pairs.", sa, sb)
                continue
            va, vb = (np.nan_to_num(values[g][:, shared]) for g in (ga, gb))
            ea, eb = (np.nan_to_num(se[g][:, shared], nan=np.inf) for g in (ga, gb))
            pos_a = pd.Series(np.arange(len(ga)), index=ga)
            pos_b = pd.Series(np.arange(len(gb)), index=gb)
            here = [
                (pos_a[a], pos_b[b]) if a in pos_a.index else (pos_a[b], pos_b[a])
                for a, b in kept
                if (a in pos_a.index and b in pos_b.index)
                or (b in pos_a.index and a in pos_b.index)
            ]
            here = np.asarray(here, dtype=np.int64).reshape(-1, 2)
            if not len(here) and linked[sa] == linked[sb]:
                logger.info(
                    "No ortholog pairs between %s and %s: they are linked through other "
                    "species' orthologs, so no reactome pairs are added between them.",
                    sa,
                    sb,
                )
                continue
            responsive_a = (np.abs(va) / np.maximum(ea, 1e-12)).max(1) >= RESPONSIVE_Z
            responsive_b = (np.abs(vb) / np.maximum(eb, 1e-12)).max(1) >= RESPONSIVE_Z
            va, vb = shrunk(va, ea), shrunk(vb, eb)
            ci, cj, cs = similar_pairs(
                va, vb, np.flatnonzero(responsive_a), np.flatnonzero(responsive_b), min_similarity
            )
            threshold = min_similarity
            if len(here):
                threshold = calibrated_threshold(ci, cj, cs, here, min_similarity)
                info["threshold"] = threshold
                if not np.isfinite(threshold):
                    logger.info(
                        "Reactome matches between %s and %s genes do not agree with the "
                        "ortholog prior (%.0f%% of the best matches): the prior is used as "
                        "it is.",
                        sa,
                        sb,
                        100 * MIN_AGREEMENT,
                    )
            # candidates outside the prior, then the prior pairs with their bonus
            key = here[:, 0] * len(gb) + here[:, 1]
            outside = ~np.isin(ci * len(gb) + cj, key)
            bonus = np.maximum(response_similarity(va[here[:, 0]], vb[here[:, 1]], True), 0.0)
            ia, ib = greedy_matching(
                np.r_[ci[outside], here[:, 0]],
                np.r_[cj[outside], here[:, 1]],
                np.r_[cs[outside], bonus + prior_bonus],
                np.r_[np.zeros(outside.sum(), bool), np.ones(len(here), bool)],
                threshold,
            )
            new = ~np.isin(ia * len(gb) + ib, key)
            # the data override prior pairs of these two species only: a match between
            # two species says nothing against either gene's orthologs in a third
            moved = set(ga[ia[new]]) | set(gb[ib[new]])
            for a, b in zip(ga[here[:, 0]], gb[here[:, 1]], strict=True):
                if a in moved or b in moved:
                    kept.discard(tuple(sorted((a, b))))
                    info["overridden"] += 1
            added += [tuple(sorted((a, b))) for a, b in zip(ga[ia[new]], gb[ib[new]], strict=True)]
    info["added"] = len(added)
    pairs = sorted(kept | set(added))
    logger.info(
        "Gene alignment (%s): %d ortholog pairs, %d overridden by reactome similarity, %d "
        "reactome pairs added.",
        mode,
        info["prior"],
        info["overridden"],
        info["added"],
    )
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2), info
