"""What a UGE module is built from: one set of inputs, made from the data or a reference.

Every model, trained from scratch, extended by :meth:`uge.UGE.load_query_data` or loaded
from disk, is built by :class:`uge.UGE` from one :class:`ModelInputs`: its genes' species,
token genes, expression statistics and aligned gene pairs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd
import torch
from scvi import REGISTRY_KEYS
from scvi.data import AnnDataManager

from uge._constants import SPECIES_KEY
from uge.core import (
    GeneAlignment,
    alignment_pairs,
    measured_reactome,
    ortholog_pairs,
    reactome_pairs,
)

from ._inputs import choose_likelihood, choose_token_genes, gene_statistics, token_genes

logger = logging.getLogger(__name__)


@dataclass
class ModelInputs:
    """The data-derived inputs of a UGE module (hyperparameters aside).

    Attributes
    ----------
    species
        The registered species, in registry order.
    gene_species
        ``(G,)`` each gene's species, as a position in ``species``.
    candidates
        ``(S, G)`` token genes of each species.
    mean, std
        ``(G,)`` mean and standard deviation of each gene's log-normalised expression.
    baseline
        ``(G,)`` starting decoder baselines; ``None`` when weights are loaded after.
    pairs
        ``(P, 2)`` gene pairs the model aligns.
    prior
        ``(Q, 2)`` the ortholog prior's gene pairs.
    likelihood
        ``"nb"`` or ``"gaussian"``.
    alignment
        What the gene alignment did (``model.gene_alignment_``).
    level
        Query models: per gene, 0 for a reference gene and ``k`` for a gene added by the
        ``k``-th extension; ``None`` for a model trained from scratch.
    reference_shapes
        Query models: the reference's parameter shapes (what stays frozen).
    """

    species: list[str]
    gene_species: np.ndarray
    candidates: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    baseline: np.ndarray | None
    pairs: np.ndarray
    prior: np.ndarray
    likelihood: str
    alignment: dict
    level: np.ndarray | None = None
    reference_shapes: dict[str, list[int]] | None = None

    def module_kwargs(self) -> dict:
        """The tensors :class:`uge.module.UGEModule` takes from these inputs."""
        n_species = len(self.species)
        return {
            "gene_species": torch.as_tensor(self.gene_species, dtype=torch.long),
            "token_candidates": torch.as_tensor(self.candidates),
            "gene_mean": torch.as_tensor(self.mean, dtype=torch.float32),
            "gene_std": torch.as_tensor(self.std, dtype=torch.float32),
            "gene_baseline": (
                None if self.baseline is None else torch.as_tensor(self.baseline).float()
            ),
            "gene_pairs": torch.as_tensor(self.pairs, dtype=torch.long),
            "likelihood": self.likelihood,
            "gene_rank": (
                None
                if self.level is None
                else torch.as_tensor(self.level * n_species + self.gene_species)
            ),
        }

    def saved(self) -> dict:
        """What :meth:`from_saved` needs beside the module's weights (JSON-able)."""
        return {"prior_pairs": self.prior, "gene_alignment": self.alignment}


def registered_species(manager: AnnDataManager, var: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The registered species, and each gene's species as a code into them (-1 for a
    species without samples)."""
    species = [str(s) for s in manager.get_state_registry(SPECIES_KEY).categorical_mapping]
    key = manager.registry["setup_args"]["species_key"]
    codes = pd.Categorical(var[key].astype(str), categories=species).codes
    return species, codes.astype(np.int64)


def _expression(manager: AnnDataManager, likelihood: str) -> tuple[object, str]:
    """The registered expression and its likelihood (``"auto"`` resolved, input checked)."""
    layer = manager.registry["setup_args"]["layer"]
    x = manager.get_from_registry(REGISTRY_KEYS.X_KEY)
    where = "adata.X" if layer is None else f"adata.layers[{layer!r}]"
    return x, choose_likelihood(x, likelihood, where)


def from_registry(
    manager: AnnDataManager,
    orthologs: pd.DataFrame | dict | None,
    likelihood: str,
    max_tokens: int,
    gene_alignment: GeneAlignment,
    min_similarity: float,
) -> ModelInputs:
    """The inputs of a model trained from scratch on the registered data."""
    adata, args = manager.adata, manager.registry["setup_args"]
    species, gene_species = registered_species(manager, adata.var)
    x, likelihood = _expression(manager, likelihood)
    prior = ortholog_pairs(orthologs, adata.var, args["species_key"], species)
    pairs, alignment = alignment_pairs(adata, args, species, prior, gene_alignment, min_similarity)
    obs_species = manager.get_from_registry(SPECIES_KEY).ravel()
    candidates, mean, std, baseline = token_genes(
        adata, x, obs_species, gene_species, len(species), max_tokens, likelihood, pairs
    )
    return ModelInputs(
        species, gene_species, candidates, mean, std, baseline, pairs, prior, likelihood, alignment
    )


def from_saved(manager: AnnDataManager, meta: dict, state: dict) -> ModelInputs | None:
    """The inputs of a saved model, from its weights and description; ``None`` for a model
    saved by uge 0.1.0 before it recorded them (it is then rebuilt from the data)."""
    inputs, query = meta.get("inputs"), meta.get("query") or {}
    if inputs is None and not query:
        return None
    inputs = inputs or query  # query models of 0.1.0 kept them with the query
    species, gene_species = registered_species(manager, manager.adata.var)
    level = query.get("gene_level")
    return ModelInputs(
        species,
        gene_species,
        candidates=state["token_candidates"].numpy(),
        mean=state["gene_mean"].numpy(),
        std=state["gene_std"].numpy(),
        baseline=None,
        pairs=state["gene_pairs"].numpy(),
        prior=np.asarray(inputs["prior_pairs"], dtype=np.int64).reshape(-1, 2),
        likelihood=meta["init_params"]["non_kwargs"]["likelihood"],
        alignment=inputs["gene_alignment"],
        level=None if level is None else np.asarray(level, dtype=np.int64),
        reference_shapes=query.get("reference_shapes"),
    )


def extend(reference, manager: AnnDataManager, orthologs: pd.DataFrame | dict | None):
    """The inputs of a query model: the reference's, plus its new genes and species.

    New genes get statistics from the query's samples of their species and partners from
    ``orthologs`` and, where the reference aligned genes by reactome, from reactome
    similarity (the reference's rule); a new species gets token genes as in training.
    Returns the inputs and the counts of new ortholog and reactome pairs.
    """
    adata, args = manager.adata, manager.registry["setup_args"]
    species, gene_species = registered_species(manager, adata.var)
    key, n_ref = args["species_key"], reference.adata.n_vars
    if (gene_species < 0).any():
        raise ValueError(
            f"Genes of species {sorted(set(adata.var[key][gene_species < 0]))} have no "
            "samples in the query: add their samples, or leave their genes out."
        )
    ref_level = reference.query_["gene_level"] if reference.query_ else np.zeros(n_ref)
    level = np.r_[ref_level, np.full(adata.n_vars - n_ref, max(ref_level, default=0) + 1)]
    ortho = ortholog_pairs(orthologs, adata.var, key, species)
    ortho = ortho[(ortho >= n_ref).any(1)]
    prior = np.r_[reference.prior_pairs_, ortho].astype(np.int64)
    module = reference.module
    new_pairs, n_reactome = query_alignment_pairs(
        reference,
        adata,
        args,
        species,
        prior,
        reference.gene_alignment_["mode"],
        reference.init_params_["non_kwargs"]["min_similarity"],
    )
    x, likelihood = _expression(manager, module.likelihood)
    obs_species = manager.get_from_registry(SPECIES_KEY).ravel()
    statistics = _query_statistics(x, obs_species, gene_species, module, species)
    alignment = {
        **reference.gene_alignment_,
        "query_ortholog_pairs": len(ortho),
        "query_reactome_pairs": n_reactome,
    }
    inputs = ModelInputs(
        species,
        gene_species,
        candidates=_query_candidates(
            adata, gene_species, len(species), module, new_pairs, statistics[1]
        ),
        mean=statistics[0],
        std=statistics[1],
        baseline=statistics[2],
        pairs=np.r_[module.gene_pairs.cpu().numpy(), new_pairs].astype(np.int64),
        prior=prior,
        likelihood=likelihood,
        alignment=alignment,
        level=level.astype(np.int64),
        reference_shapes={k: list(v.shape) for k, v in module.named_parameters()},
    )
    return inputs, len(ortho), n_reactome


def _query_statistics(
    x, obs_species: np.ndarray, gene_species: np.ndarray, module, species: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gene statistics of a query: the reference's, plus those of its new genes (from the
    query's samples of their species)."""
    n_ref, n_new = len(module.gene_mean), len(gene_species) - len(module.gene_mean)
    mean = np.r_[module.gene_mean.cpu().numpy(), np.zeros(n_new)]
    std = np.r_[module.gene_std.cpu().numpy(), np.ones(n_new)]
    baseline = np.r_[module.decoder.gene_bias.detach().cpu().numpy(), np.zeros(n_new)]
    new = np.arange(n_ref, len(gene_species))
    for s in np.unique(gene_species[new]):
        cols = new[gene_species[new] == s]
        rows = np.flatnonzero(obs_species == s)
        if not len(rows):
            raise ValueError(
                f"The query's new {species[s]} genes have no samples of that species in the "
                f"query to learn from: add {species[s]} samples, or leave those genes out."
            )
        mean[cols], std[cols], baseline[cols] = gene_statistics(x, rows, cols, module.likelihood)
        std[cols] = np.maximum(std[cols], 0.1)
    return mean, std, baseline


def _query_candidates(
    adata: ad.AnnData,
    gene_species: np.ndarray,
    n_species: int,
    module,
    pairs: np.ndarray,
    std: np.ndarray,
) -> np.ndarray:
    """Token genes of a query: the reference's, and for a new species its genes chosen as
    in training (new genes of known species are decoded, not read)."""
    n_ref, n_ref_species = len(module.gene_mean), module.n_species
    candidates = np.zeros((n_species, len(gene_species)), dtype=bool)
    candidates[:n_ref_species, :n_ref] = module.token_candidates.cpu().numpy()
    if n_species > n_ref_species:
        var = adata.var
        hvg = var["highly_variable"].to_numpy(bool) if "highly_variable" in var else None
        new_species = list(range(n_ref_species, n_species))
        chosen = choose_token_genes(
            std**2, gene_species, n_species, module.max_tokens, hvg, pairs, new_species
        )
        candidates[n_ref_species:] = chosen[n_ref_species:]
    return candidates


def query_alignment_pairs(
    reference,
    query: ad.AnnData,
    setup_args: dict,
    species: list[str],
    prior: np.ndarray,
    mode: GeneAlignment,
    min_similarity: float,
) -> tuple[np.ndarray, int]:
    """Pairs of a query model's new genes, by the reference's rule (:func:`alignment_pairs`).

    The reference's genes keep the reactome of the reference's samples, the new genes
    (after the reference's ``n`` genes) get that of the query's samples; both are matched
    together over the columns they share, with ``prior`` (the reference's prior and the
    new genes' ortholog pairs, as indices into ``query.var``). Returned are the pairs with
    a new gene, and how many of them are reactome pairs (not in ``prior``).
    """
    n_ref = reference.adata.n_vars
    new = (prior >= n_ref).any(1)
    if mode == "orthologs" or (
        setup_args["labels_key"] is None and setup_args["condition_key"] is None
    ):
        return prior[new], 0
    try:
        # the reference's reactome does not change: computed once per reference model
        cached = getattr(reference, "_measured_reactome", None)
        if cached is None:
            cached = measured_reactome(reference.adata, setup_args)
            reference._measured_reactome = cached
        ref_table, ref_se = cached
        q_table, q_se = measured_reactome(query, setup_args)
    except ValueError as err:
        logger.info("No reactome for the query's new genes (%s): ortholog pairs only.", err)
        return prior[new], 0
    columns = ref_table.columns.union(q_table.columns, sort=False)
    values, se = (
        np.vstack(
            [
                r.reindex(columns=columns).to_numpy()[:n_ref],
                q.reindex(columns=columns).to_numpy()[n_ref:],
            ]
        )
        for r, q in ((ref_table, q_table), (ref_se, q_se))
    )
    gene_species = query.var[setup_args["species_key"]].astype(str).to_numpy()
    pairs, _ = reactome_pairs(values, se, gene_species, species, prior, mode, min_similarity)
    pairs = pairs[(pairs >= n_ref).any(1)]
    width = len(gene_species)
    given = np.sort(prior, 1) @ [width, 1]
    return pairs, int((~np.isin(pairs @ [width, 1], given)).sum())
