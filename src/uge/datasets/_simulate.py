"""A simulated cross-species drug study with known ground truth (the UGE paper's design)."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from scipy import sparse

from uge._constants import TARGET_SUM
from uge.pp import concat_species

logger = logging.getLogger(__name__)

CONTROL = "control"

_ORGANS = (
    "brain",
    "heart",
    "kidney",
    "liver",
    "lung",
    "muscle",
    "pancreas",
    "spleen",
    "stomach",
    "thymus",
)
_DRUGS = ("tetracycline", "drug_a", "drug_b")

# Fixed constants of the generative model (documented in `simulate_study`).
_BASELINE_SD = 1.5  # sd of a family's baseline log-expression
_COPY_SD = 1.0  # sd of an extra gene copy's baseline offset from its family
_ORGAN_P = 0.1  # share of families up-regulated by each organ's program
_ORGAN_LFC = (1.0, 2.5)  # range of an organ program's log-fold change
_DRUG_P = 0.15  # share of families targeted by each drug
_DRUG_LFC = (0.5, 2.0)  # range of |log-fold change| of a drug target
_DRUG_KEEP = 0.8  # chance that a drug target responds in a given responding organ
_DRUG_SCALE = (0.7, 1.3)  # range of the organ-specific scaling of a drug's effect
_N_BATCHES = 2


def _round(x: float) -> int:
    """Round half up (Python's `round` rounds half to even)."""
    return int(np.floor(x + 0.5))


def _check_names(values: Any, what: str, allow_empty: bool = False) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValueError(
            f"`{what}` must be a sequence of names such as a list or tuple of strings, "
            f"got {values!r}."
        )
    names = list(values)
    if not names and not allow_empty:
        raise ValueError(f"`{what}` must hold at least one name, got an empty sequence.")
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"`{what}` must hold non-empty strings, got {name!r}.")
        if "|" in name or ":" in name:
            raise ValueError(
                f"`{what}` holds {name!r}; names may not contain '|' or ':' (they are used "
                "as separators in column and gene names)."
            )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"`{what}` holds duplicated names: {dup}.")
    return names


def _check_fraction(value: Any, what: str) -> float:
    if not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{what}` must be a number in [0, 1], got {value!r}.")
    return float(value)


def _check_nonneg(value: Any, what: str) -> float:
    if not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
        raise ValueError(f"`{what}` must be a finite number >= 0, got {value!r}.")
    return float(value)


def _species_prefixes(species: list[str]) -> list[str]:
    """Distinct gene-name prefixes, e.g. mouse -> "Mg", rat -> "Rg"."""
    longest = max(len(s) for s in species)
    for k in range(1, longest + 1):
        prefixes = [s[:k].capitalize() + "g" for s in species]
        if len(set(prefixes)) == len(prefixes):
            return prefixes
    return [s.capitalize() + "g" for s in species]  # unreachable for unique names


def _draw_programs(
    rng: np.random.Generator,
    n: int,
    n_organs: int,
    drug_scale: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Baseline, organ program (n, organs) and drug log-fold changes (n, drugs, organs)."""
    n_drugs = drug_scale.shape[0]
    baseline = rng.normal(0.0, _BASELINE_SD, size=n)
    organ = (rng.random((n, n_organs)) < _ORGAN_P) * rng.uniform(*_ORGAN_LFC, size=(n, n_organs))
    target = rng.random((n, n_drugs)) < _DRUG_P
    sign = rng.choice(np.array([-1.0, 1.0]), size=(n, n_drugs))
    beta = target * sign * rng.uniform(*_DRUG_LFC, size=(n, n_drugs))
    keep = rng.random((n, n_drugs, n_organs)) < _DRUG_KEEP
    drug = beta[:, :, None] * keep * drug_scale[None, :, :]
    return baseline, organ, drug


def _softmax_cols(log_rate: np.ndarray, axis: int) -> np.ndarray:
    z = log_rate - log_rate.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


@dataclass
class _Design:
    """The checked arguments of `simulate_study` and the gene counts they imply."""

    n_samples: int
    species: list[str]
    organs: list[str]
    drugs: list[str]
    conditions: list[str]  # "control" first, then the drugs
    n_genes: int
    n_unique: int
    n_families: int
    n_one_to_many: int
    frac_one_to_many: float
    frac_unique: float
    rewired_fraction: float
    responding_fraction: float
    shared_responsiveness: float
    species_shift: float
    noise: float
    dispersion: float
    lib_lo: float
    lib_hi: float
    batch_effect: float
    seed: int

    @property
    def batches(self) -> list[str]:
        """Names of the batches (used only when ``batch_effect > 0``)."""
        return [f"batch{b + 1}" for b in range(_N_BATCHES)]

    def params(self) -> dict[str, Any]:
        """The arguments used, as stored in ``uns["uge_truth"]["params"]``."""
        return {
            "n_samples_per_species": self.n_samples,
            "species": np.asarray(self.species, dtype=str),
            "organs": np.asarray(self.organs, dtype=str),
            "drugs": np.asarray(self.drugs, dtype=str),
            "n_genes": self.n_genes,
            "frac_one_to_many": self.frac_one_to_many,
            "frac_unique": self.frac_unique,
            "rewired_fraction": self.rewired_fraction,
            "responding_fraction": self.responding_fraction,
            "shared_responsiveness": self.shared_responsiveness,
            "species_shift": self.species_shift,
            "noise": self.noise,
            "dispersion": self.dispersion,
            "library_size": np.array([self.lib_lo, self.lib_hi]),
            "batch_effect": self.batch_effect,
            "seed": self.seed,
        }


@dataclass
class _Biology:
    """What all species share: the responding organs and the gene families' programs."""

    responding: np.ndarray  # (organs, drugs) booleans
    drug_scale: np.ndarray  # (drugs, organs), 0 in non-responding organs
    fam_base: np.ndarray  # (families,) baseline log-expression
    fam_organ: np.ndarray  # (families, organs) organ programs
    fam_drug: np.ndarray  # (families, drugs, organs) drug log-fold changes
    one_to_many: np.ndarray  # sorted ids of the one-to-many families
    is_otm: np.ndarray  # (families,) booleans: is the family one-to-many
    one_to_one: np.ndarray  # ids of the one-to-one families
    fam_responds: np.ndarray  # (families,) booleans: does the family respond to any drug


def _check_design(
    species: Any, organs: Any, drugs: Any, n_samples_per_species: Any, n_genes: Any, seed: Any
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Check the names and integers, and that every organ x condition group gets a sample."""
    species = _check_names(species, "species")
    organs = _check_names(organs, "organs")
    drugs = _check_names(drugs, "drugs")
    if CONTROL in drugs:
        raise ValueError(
            f"`drugs` may not contain {CONTROL!r}: it is the untreated condition that is "
            "always simulated."
        )
    for what, value in (("n_samples_per_species", n_samples_per_species), ("n_genes", n_genes)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise ValueError(f"`{what}` must be an integer, got {value!r}.")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative integer, got {seed!r}.")
    conditions = [CONTROL, *drugs]
    n_groups = len(organs) * len(conditions)
    if n_samples_per_species < n_groups:
        raise ValueError(
            f"`n_samples_per_species` is {n_samples_per_species}, fewer than the "
            f"{len(organs)} organs x {len(conditions)} conditions = {n_groups} groups; "
            f"pass at least {n_groups} samples or fewer organs/drugs."
        )
    return species, organs, drugs, conditions


def _check_counts_model(dispersion: Any, library_size: Any) -> tuple[float, float, float]:
    """Check the negative binomial's dispersion and the library size range."""
    if not isinstance(dispersion, numbers.Real) or not np.isfinite(dispersion) or dispersion <= 0:
        raise ValueError(f"`dispersion` must be a finite number > 0, got {dispersion!r}.")
    try:
        lib_lo, lib_hi = (float(v) for v in library_size)
    except (TypeError, ValueError):
        raise ValueError(
            f"`library_size` must be a pair (low, high) of numbers, got {library_size!r}."
        ) from None
    if not (np.isfinite(lib_lo) and np.isfinite(lib_hi) and 0 < lib_lo <= lib_hi):
        raise ValueError(
            f"`library_size` must satisfy 0 < low <= high (finite), got {library_size!r}."
        )
    return float(dispersion), lib_lo, lib_hi


def _gene_counts(n_genes: Any, frac_unique: float, frac_one_to_many: float) -> tuple[int, int, int]:
    """``n_unique``, ``n_families`` and ``n_one_to_many`` (see `simulate_study`'s ``n_genes``)."""
    n_unique = _round(frac_unique * n_genes)
    n_families = n_genes - n_unique
    if n_families < 2:
        raise ValueError(
            f"`n_genes`={n_genes} with `frac_unique`={frac_unique} leaves {n_families} gene "
            "families; at least 2 are needed. Increase `n_genes` or lower `frac_unique`."
        )
    return n_unique, int(n_families), _round(frac_one_to_many * n_families)


def _check_args(
    n_samples_per_species: Any,
    species: Any,
    organs: Any,
    drugs: Any,
    n_genes: Any,
    frac_one_to_many: Any,
    frac_unique: Any,
    rewired_fraction: Any,
    responding_fraction: Any,
    shared_responsiveness: Any,
    species_shift: Any,
    noise: Any,
    dispersion: Any,
    library_size: Any,
    batch_effect: Any,
    seed: Any,
) -> _Design:
    """Check `simulate_study`'s arguments (raising on the first bad one) into a `_Design`."""
    species, organs, drugs, conditions = _check_design(
        species, organs, drugs, n_samples_per_species, n_genes, seed
    )
    frac_one_to_many = _check_fraction(frac_one_to_many, "frac_one_to_many")
    frac_unique = _check_fraction(frac_unique, "frac_unique")
    rewired_fraction = _check_fraction(rewired_fraction, "rewired_fraction")
    responding_fraction = _check_fraction(responding_fraction, "responding_fraction")
    shared_responsiveness = _check_fraction(shared_responsiveness, "shared_responsiveness")
    species_shift = _check_nonneg(species_shift, "species_shift")
    noise = _check_nonneg(noise, "noise")
    batch_effect = _check_nonneg(batch_effect, "batch_effect")
    dispersion, lib_lo, lib_hi = _check_counts_model(dispersion, library_size)
    n_unique, n_families, n_one_to_many = _gene_counts(n_genes, frac_unique, frac_one_to_many)
    return _Design(
        n_samples=int(n_samples_per_species),
        species=species,
        organs=organs,
        drugs=drugs,
        conditions=conditions,
        n_genes=int(n_genes),
        n_unique=n_unique,
        n_families=n_families,
        n_one_to_many=n_one_to_many,
        frac_one_to_many=frac_one_to_many,
        frac_unique=frac_unique,
        rewired_fraction=rewired_fraction,
        responding_fraction=responding_fraction,
        shared_responsiveness=shared_responsiveness,
        species_shift=species_shift,
        noise=noise,
        dispersion=dispersion,
        lib_lo=lib_lo,
        lib_hi=lib_hi,
        batch_effect=batch_effect,
        seed=int(seed),
    )


def _draw_responding(rng: np.random.Generator, design: _Design) -> np.ndarray:
    """Which organs respond to each drug: (organs, drugs) booleans."""
    n_organs, n_drugs = len(design.organs), len(design.drugs)
    n_resp = _round(design.responding_fraction * n_organs)
    responding = np.zeros((n_organs, n_drugs), dtype=bool)
    if design.shared_responsiveness > 0:
        w = design.shared_responsiveness
        score = np.sqrt(w) * rng.normal(size=(n_organs, 1))
        score = score + np.sqrt(1 - w) * rng.normal(size=(n_organs, n_drugs))
        for d in range(n_drugs):
            responding[np.argsort(-score[:, d])[:n_resp], d] = True
    else:  # the default's draws, unchanged
        for d in range(n_drugs):
            responding[rng.choice(n_organs, size=n_resp, replace=False), d] = True
    return responding


def _draw_biology(rng: np.random.Generator, design: _Design) -> _Biology:
    """Draw the conserved biology: responding organs, family programs, one-to-many families."""
    n_organs, n_drugs, n_families = len(design.organs), len(design.drugs), design.n_families
    responding = _draw_responding(rng, design)
    drug_scale = rng.uniform(*_DRUG_SCALE, size=(n_drugs, n_organs)) * responding.T
    fam_base, fam_organ, fam_drug = _draw_programs(rng, n_families, n_organs, drug_scale)
    # every organ gets a program, so that organs are separable
    for o in range(n_organs):
        if not fam_organ[:, o].any():
            fam_organ[rng.integers(n_families), o] = rng.uniform(*_ORGAN_LFC)
    one_to_many = np.sort(rng.choice(n_families, size=design.n_one_to_many, replace=False))
    is_otm = np.zeros(n_families, dtype=bool)
    is_otm[one_to_many] = True
    return _Biology(
        responding=responding,
        drug_scale=drug_scale,
        fam_base=fam_base,
        fam_organ=fam_organ,
        fam_drug=fam_drug,
        one_to_many=one_to_many,
        is_otm=is_otm,
        one_to_one=np.flatnonzero(~is_otm),
        fam_responds=np.abs(fam_drug).sum(axis=(1, 2)) > 0,
    )


def _rewire(
    rng: np.random.Generator,
    design: _Design,
    bio: _Biology,
    response_family: np.ndarray,
    kind: np.ndarray,
) -> None:
    """In place: the chosen one-to-one genes swap drug responses along a random cycle."""
    one_to_one = bio.one_to_one
    n_rew = _round(design.rewired_fraction * len(one_to_one))
    if n_rew == 1:  # a single rewired pair is impossible
        n_rew = 0
    if n_rew:
        resp = one_to_one[bio.fam_responds[one_to_one]]
        nonresp = one_to_one[~bio.fam_responds[one_to_one]]
        order = np.concatenate([rng.permutation(resp), rng.permutation(nonresp)])
        cycle = rng.permutation(order[:n_rew])
        # the gene of family cycle[i] carries the response of family cycle[i + 1]
        response_family[cycle] = np.roll(cycle, -1)
        kind[cycle] = "rewired"


def _species_genes(
    rng: np.random.Generator, design: _Design, bio: _Biology, k: int
) -> dict[str, np.ndarray]:
    """Genes of the ``k``-th species in family order: ids, kinds, baselines and programs."""
    extra = bio.one_to_many if k > 0 else np.array([], dtype=int)
    n_families, n_unique = design.n_families, design.n_unique
    family = np.concatenate([np.arange(n_families), extra, np.full(n_unique, -1)])
    copy = np.concatenate(
        [np.zeros(n_families, int), np.ones(len(extra), int), -np.ones(n_unique, int)]
    )
    n_s = len(family)
    kind = np.where(
        family < 0,
        "unique",
        np.where(bio.is_otm[np.maximum(family, 0)], "one_to_many", "one_to_one"),
    ).astype(object)
    response_family = family.copy()

    fam_idx = np.maximum(family, 0)
    baseline = bio.fam_base[fam_idx].copy()
    organ = bio.fam_organ[fam_idx].copy()
    u_base, u_organ, u_drug = _draw_programs(rng, n_unique, len(design.organs), bio.drug_scale)
    is_unique = family < 0
    baseline[is_unique] = u_base
    organ[is_unique] = u_organ
    baseline[copy == 1] += rng.normal(0.0, _COPY_SD, size=int((copy == 1).sum()))
    if k > 0:
        baseline += rng.normal(0.0, design.species_shift, size=n_s)
        _rewire(rng, design, bio, response_family, kind)
    drug = np.empty((n_s, len(design.drugs), len(design.organs)))
    drug[~is_unique] = bio.fam_drug[response_family[~is_unique]]
    drug[is_unique] = u_drug
    return {
        "family": family,
        "copy": copy,
        "kind": kind,
        "response_family": response_family,
        "baseline": baseline,
        "organ": organ,
        "drug": drug,
    }


def _shuffle_and_name(
    rng: np.random.Generator, genes: dict[str, np.ndarray], prefix: str
) -> dict[str, np.ndarray]:
    """Shuffle the gene order and name the genes by their position (e.g. ``"Mg0001"``)."""
    n_s = len(genes["family"])
    perm = rng.permutation(n_s)
    shuffled = {key: values[perm] for key, values in genes.items()}
    width = max(4, len(str(n_s)))
    shuffled["genes"] = np.array([f"{prefix}{i + 1:0{width}d}" for i in range(n_s)], dtype=object)
    return shuffled


def _log_means(genes: dict[str, np.ndarray]) -> np.ndarray:
    """Expected log-rates per group: (genes, organs, conditions), condition 0 is control."""
    log_mu = genes["baseline"][:, None, None] + genes["organ"][:, :, None]
    return np.concatenate([log_mu, log_mu + genes["drug"].transpose(0, 2, 1)], axis=2)


def _draw_samples(rng: np.random.Generator, design: _Design, log_mu: np.ndarray) -> dict[str, Any]:
    """Assign samples to groups and batches and draw their library sizes and counts."""
    n, n_s = design.n_samples, log_mu.shape[0]
    n_groups = len(design.organs) * len(design.conditions)
    idx = np.arange(n)
    group = idx % n_groups
    s_organ = group // len(design.conditions)
    s_cond = group % len(design.conditions)
    s_batch = (idx // n_groups) % _N_BATCHES
    order = rng.permutation(n)
    s_organ, s_cond, s_batch = s_organ[order], s_cond[order], s_batch[order]
    lib = rng.uniform(design.lib_lo, design.lib_hi, size=n)
    log_rate = log_mu[:, s_organ, s_cond].T + rng.normal(0.0, design.noise, size=(n, n_s))
    batch_shift = None
    if design.batch_effect > 0:
        batch_shift = rng.normal(0.0, design.batch_effect, size=(_N_BATCHES, n_s))
        log_rate += batch_shift[s_batch]
    mu = lib[:, None] * _softmax_cols(log_rate, axis=1)
    theta = design.dispersion
    counts = rng.negative_binomial(theta, theta / (theta + mu)).astype(np.float32)
    return {
        "organ": s_organ,
        "cond": s_cond,
        "batch": s_batch,
        "library_size": lib,
        "counts": counts,
        "batch_shift": batch_shift,
    }


def _species_anndata(
    species: str, design: _Design, samples: dict[str, Any], genes: np.ndarray
) -> ad.AnnData:
    """One species' AnnData: counts, obs (organ, drug, batch, library size), gene names."""
    n = design.n_samples
    obs = pd.DataFrame(
        {
            "organ": pd.Categorical.from_codes(samples["organ"], categories=design.organs),
            "drug": pd.Categorical.from_codes(samples["cond"], categories=design.conditions),
        },
        index=pd.Index([f"{species}_{i + 1:04d}" for i in range(n)]),
    )
    if design.batch_effect > 0:
        obs["batch"] = pd.Categorical.from_codes(samples["batch"], categories=design.batches)
    obs["library_size"] = samples["library_size"]
    return ad.AnnData(
        X=sparse.csr_matrix(samples["counts"]), obs=obs, var=pd.DataFrame(index=pd.Index(genes))
    )


def _simulate_species(
    rng: np.random.Generator, design: _Design, bio: _Biology, k: int, prefix: str
) -> tuple[ad.AnnData, dict[str, Any]]:
    """The ``k``-th species' AnnData and its truth (genes, responses, group means, shifts)."""
    species = design.species[k]
    genes = _shuffle_and_name(rng, _species_genes(rng, design, bio, k), prefix)
    log_mu = _log_means(genes)
    samples = _draw_samples(rng, design, log_mu)
    info = {
        "var_names": np.array([f"{species}:{g}" for g in genes["genes"]], dtype=object),
        "genes": genes["genes"],
        "family": genes["family"],
        "copy": genes["copy"],
        "kind": genes["kind"],
        "response_family": genes["response_family"],
        "baseline": genes["baseline"],
        "drug": genes["drug"],
        "group_means": np.log1p(TARGET_SUM * _softmax_cols(log_mu, axis=0)),
        "batch_shift": samples["batch_shift"],
    }
    return _species_anndata(species, design, samples, genes["genes"]), info


def _concat(adatas: dict[str, ad.AnnData], design: _Design) -> ad.AnnData:
    """Concatenate the species with fixed categories and ``float32`` CSR counts."""
    adata = concat_species(adatas)
    for col, cats in (
        ("organ", design.organs),
        ("drug", design.conditions),
        ("species", design.species),
    ):
        adata.obs[col] = pd.Categorical(adata.obs[col].astype(str), categories=cats)
    if design.batch_effect > 0:
        adata.obs["batch"] = pd.Categorical(
            adata.obs["batch"].astype(str), categories=design.batches
        )
    if not sparse.issparse(adata.X):
        adata.X = sparse.csr_matrix(adata.X, dtype=np.float32)
    else:
        adata.X = sparse.csr_matrix(adata.X).astype(np.float32)
    return adata


def _reactome_table(
    design: _Design, per_species: list[dict[str, Any]], var_names: pd.Index
) -> pd.DataFrame:
    """True log-fold changes, ``var_names`` x ``"<organ>|<drug>"``."""
    react_cols = [f"{o}|{d}" for d in design.drugs for o in design.organs]
    return pd.concat(
        [
            pd.DataFrame(
                info["drug"].reshape(len(info["genes"]), -1),  # (genes, drugs * organs)
                index=info["var_names"],
                columns=react_cols,
            )
            for info in per_species
        ]
    ).loc[var_names]


def _genes_table(per_species: list[dict[str, Any]], var_names: pd.Index) -> pd.DataFrame:
    """Family, response family, kind and baseline of every gene."""
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "family": info["family"].astype(np.int64),
                    "response_family": info["response_family"].astype(np.int64),
                    "kind": info["kind"].astype(str),
                    "baseline": info["baseline"],
                },
                index=info["var_names"],
            )
            for info in per_species
        ]
    ).loc[var_names]


def _group_means_table(
    design: _Design, per_species: list[dict[str, Any]], var_names: pd.Index
) -> pd.DataFrame:
    """Noiseless log1p(CP10k) group means, ``"<species>|<organ>|<drug>"`` x ``var_names``."""
    gm_rows, gm_index = [], []
    for sp, info in zip(design.species, per_species, strict=True):
        col_pos = var_names.get_indexer(info["var_names"])
        for o, organ_name in enumerate(design.organs):
            for c, cond in enumerate(design.conditions):
                row = np.full(len(var_names), np.nan)
                row[col_pos] = info["group_means"][:, o, c]
                gm_rows.append(row)
                gm_index.append(f"{sp}|{organ_name}|{cond}")
    return pd.DataFrame(np.vstack(gm_rows), index=gm_index, columns=var_names)


def _ortholog_tables(
    design: _Design, per_species: list[dict[str, Any]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sequence-based ortholog table and the true functional map."""
    species, first = design.species, per_species[0]
    src_by_family = np.empty(design.n_families, dtype=object)
    fam_mask = first["family"] >= 0
    src_by_family[first["family"][fam_mask]] = np.arange(len(first["genes"]))[fam_mask]
    ortho_rows: list[dict[str, str]] = []
    fmap_rows: list[tuple[str, str, str]] = []
    for sp, info in zip(species[1:], per_species[1:], strict=True):
        for j in np.flatnonzero(info["family"] >= 0):
            src = src_by_family[info["family"][j]]
            ortho_rows.append({species[0]: first["genes"][src], sp: info["genes"][j]})
            func_src = src_by_family[info["response_family"][j]]
            fmap_rows.append((first["var_names"][func_src], info["var_names"][j], info["kind"][j]))
    # with more than two species, the columns of species outside a pair hold "" (not NaN,
    # which h5ad cannot write in a string column)
    orthologs = pd.DataFrame(ortho_rows, columns=species).fillna("")
    if len(orthologs):
        orthologs = orthologs.sort_values(list(species)).reset_index(drop=True)
    functional_map = pd.DataFrame(fmap_rows, columns=["source_gene", "target_gene", "kind"])
    functional_map = functional_map.sort_values(["source_gene", "target_gene"]).reset_index(
        drop=True
    )
    for df in (orthologs, functional_map):
        for col in df.columns:
            df[col] = df[col].astype(object)
    return orthologs, functional_map


def _add_truth(
    adata: ad.AnnData, design: _Design, bio: _Biology, per_species: list[dict[str, Any]]
) -> None:
    """Store the ortholog table in ``uns["orthologs"]`` and the truth in ``uns["uge_truth"]``."""
    var_names = adata.var_names
    orthologs, functional_map = _ortholog_tables(design, per_species)
    truth: dict[str, Any] = {
        "reactome": _reactome_table(design, per_species, var_names),
        "functional_map": functional_map,
        "group_means": _group_means_table(design, per_species, var_names),
        "responding": pd.DataFrame(bio.responding, index=design.organs, columns=design.drugs),
        "genes": _genes_table(per_species, var_names),
        "params": design.params(),
    }
    if design.batch_effect > 0:
        shifts = [
            pd.DataFrame(info["batch_shift"], index=design.batches, columns=info["var_names"])
            for info in per_species
        ]
        truth["batch_shift"] = pd.concat(shifts, axis=1)[var_names]
    adata.uns["orthologs"] = orthologs
    adata.uns["uge_truth"] = truth


def simulate_study(
    n_samples_per_species: int = 500,
    species: Sequence[str] = ("mouse", "rat"),
    organs: Sequence[str] = _ORGANS,
    drugs: Sequence[str] = _DRUGS,
    n_genes: int = 1000,
    frac_one_to_many: float = 0.1,
    frac_unique: float = 0.1,
    rewired_fraction: float = 0.1,
    responding_fraction: float = 0.7,
    shared_responsiveness: float = 0.0,
    species_shift: float = 0.5,
    noise: float = 0.2,
    dispersion: float = 10.0,
    library_size: tuple[float, float] = (2e6, 6e6),
    batch_effect: float = 0.0,
    seed: int = 0,
) -> ad.AnnData:
    """Simulate the UGE paper's cross-species drug study, with its ground truth.

    The paper's design: bulk RNA-seq of several organs of two species (mouse and rat), each organ
    either untreated (``"control"``) or treated with one of three drugs, 500 samples per species.
    No such public data set exists, so this simulator draws one from an explicit generative model
    and keeps the truth (true reactomes, true functional gene map, noiseless group means) next to
    the counts, so that a result can be checked against what is known.

    Parameters
    ----------
    n_samples_per_species
        Samples per species, spread evenly over all ``organ x condition`` groups (conditions are
        ``"control"`` plus ``drugs``) by a round robin, then shuffled; at least the group count.
    species
        Species names; the first one is the reference to which ortholog pairs are defined (e.g.
        mouse), the others are targets (e.g. rat).
    organs, drugs
        Organ and drug names (at least one each; ``"control"`` is reserved).
    n_genes
        Gene count of the first species, exactly: ``n_unique = round(frac_unique * n_genes)`` have
        no ortholog, the other ``n_families = n_genes - n_unique`` are one gene per gene family.
        Every other species has the same ``n_families`` genes, one extra copy for each of the
        ``n_one_to_many = round(frac_one_to_many * n_families)`` one-to-many families, and its own
        ``n_unique`` species-specific genes, so it has ``n_genes + n_one_to_many`` genes.
    frac_one_to_many, frac_unique
        Share of gene families with one gene in the first species and two in each other species;
        share of genes per species without an ortholog.
    rewired_fraction
        Share of the one-to-one families whose drug response is rewired in each other species
        (rounded; a single rewired pair is impossible, a count of one becomes zero).
        Drug-responsive families are chosen first.
    responding_fraction
        Share of organs (rounded) that respond to each drug, drawn per drug; in the other organs
        the drug has no effect at all.
    shared_responsiveness
        In [0, 1]: how much the organs that respond are the same for every drug. 0: drawn
        independently per drug. Otherwise each organ has a responsiveness ``r_o ~ N(0, 1)`` and
        each drug's responding organs are those with the highest ``sqrt(s) r_o + sqrt(1 - s) e_od``
        (``e_od ~ N(0, 1)``): some organs respond to most drugs, others to few, so which organs
        respond to a drug is predictable from other drugs.
    species_shift, noise
        Standard deviations of each other species' per-gene log-expression shift relative to the
        first, and of the per-sample, per-gene biological noise on the log-expression rate.
    dispersion
        Inverse dispersion ``theta`` of the negative binomial counts (variance
        ``mu + mu**2 / theta``).
    library_size
        ``(low, high)``: each sample's expected total count is drawn uniformly from this range.
    batch_effect
        Standard deviation of a per-batch, per-gene log shift. When > 0, samples are split evenly
        into two batches (``obs["batch"]``, balanced within every organ x condition group).
    seed
        Seed of the random number generator; the same seed gives identical counts and truth.

    Returns
    -------
    anndata.AnnData
        One AnnData built with :func:`uge.pp.concat_species`: ``var_names`` ``"<species>:<gene>"``
        with species-specific gene names (e.g. ``"Mg0001"`` for mouse, ``"Rg0001"`` for rat; the
        numbers carry no ortholog information), ``var["species"]``, ``var["gene"]``;
        ``obs["species"]``, ``obs["organ"]``, ``obs["drug"]`` (categorical: ``"control"`` plus the
        drugs), ``obs["batch"]`` (only when ``batch_effect > 0``) and ``obs["library_size"]`` (the
        expected total count drawn for the sample). ``X`` holds the raw counts (integer-valued
        ``float32`` CSR); each sample has counts only for its own species' genes.

    ``uns["orthologs"]``: the sequence-based ortholog table, a DataFrame with one column per
    species holding the species' own gene names (``var["gene"]``), one row per ortholog pair
    between the first species and each other species (with more than two species, the columns of
    the species outside a pair hold ``""``): the one-to-one and one-to-many pairs, rewired pairs
    included (right about their sequence, wrong about their function), no species-specific genes.

    ``uns["uge_truth"]``, plain h5ad-writable objects:

    ``"reactome"``
        DataFrame ``var_names`` x ``"<organ>|<drug>"``: the true log-fold change (natural log) of
        each gene's expression rate under the drug in the organ vs control of the same species and
        organ (0 in non-responding organs), before library normalisation (after normalisation to a
        total count, compositional effects shift it slightly).
    ``"functional_map"``
        DataFrame with ``source_gene`` (first species), ``target_gene`` (other species), both
        ``var_names``, and ``kind``: ``"one_to_one"``, ``"one_to_many"`` (one row per copy),
        ``"rewired"`` (the target is the gene that really carries the source's drug response, not
        its sequence ortholog). Species-specific genes are absent.
    ``"group_means"``
        DataFrame ``"<species>|<organ>|<drug>"`` x ``var_names``: the noiseless expected expression
        of every group as ``log1p(counts per 10k)`` (what ``sc.pp.normalize_total(target_sum=1e4)``
        and ``sc.pp.log1p`` give on a noise-free sample, batch effect excluded); genes of other
        species are NaN.
    ``"responding"``
        DataFrame organs x drugs of booleans: does the organ respond to the drug.
    ``"genes"``
        DataFrame, index ``var_names``: ``family`` (gene family id, -1 for species-specific
        genes), ``response_family`` (the family whose drug response the gene carries), ``kind``
        (``"one_to_one"``, ``"one_to_many"``, ``"rewired"``, ``"unique"``) and ``baseline`` (log
        expression rate in control without organ program).
    ``"batch_shift"``
        Only when ``batch_effect > 0``: DataFrame batches x ``var_names`` of the log shifts added.
    ``"params"``
        The arguments used.

    Notes
    -----
    The generative model, per gene ``g`` of species ``s`` in a sample of organ ``o`` and
    condition ``c``, with ``L ~ Uniform(library_size)`` per sample::

        log_rate = baseline[s, g] + organ_program[g, o] + drug_lfc[g, c, o]
                   + batch_shift[s, batch, g] + N(0, noise**2)
        counts ~ NegativeBinomial(mean = L * softmax_g(log_rate), theta = dispersion)

    - Gene families have a baseline log-expression ``~ N(0, 1.5**2)`` (about three orders of
      magnitude between the 2.5% and 97.5% genes). Species-specific genes get their own baseline
      and programs drawn from the same distributions.
    - Organ programs: each organ up-regulates a random ~10% of families by a log-fold change
      ``~ U(1, 2.5)``, so organs are clearly separable.
    - Drug effects: each drug targets a random ~15% of families with a log-fold change of random
      sign and magnitude ``~ U(0.5, 2)``. It acts only in its responding organs, with an
      organ-specific scaling ``~ U(0.7, 1.3)``, and each target responds in each responding organ
      with probability 0.8, so reactomes differ between organs.
    - Species: the biology (organ programs, drug responses) is conserved; each other species'
      genes get a log-expression shift ``~ N(0, species_shift**2)``.
    - One-to-many: the extra copy in each other species shares its family's organ program and
      drug response, with its own baseline (family baseline plus ``N(0, 1)``).
    - Rewiring: in each other species, the chosen one-to-one genes swap drug responses along a
      random cycle (gene of family ``f`` carries the response of family ``sigma(f)``), keeping
      their own baseline and organ program. The ortholog table still pairs them by family; the
      functional map pairs each source gene with the gene carrying its response.

    Examples
    --------
    >>> adata = uge.datasets.simulate_study(seed=1)
    >>> adata.uns["uge_truth"]["reactome"].loc[:, "liver|tetracycline"].abs().max()
    """
    design = _check_args(**locals())  # first, while locals() holds just the arguments
    rng = np.random.default_rng(design.seed)
    bio = _draw_biology(rng, design)
    prefixes = _species_prefixes(design.species)
    adatas: dict[str, ad.AnnData] = {}
    per_species: list[dict[str, Any]] = []
    for k, sp in enumerate(design.species):
        adatas[sp], info = _simulate_species(rng, design, bio, k, prefixes[k])
        per_species.append(info)
    adata = _concat(adatas, design)
    _add_truth(adata, design, bio, per_species)
    _log_summary(design)
    return adata


def _log_summary(design: _Design) -> None:
    """Log what was simulated."""
    logger.info(
        "Simulated %d species x %d samples; %d genes in %s, %d one-to-many families, "
        "%d unique genes per species.",
        len(design.species),
        design.n_samples,
        design.n_genes,
        design.species[0],
        design.n_one_to_many,
        design.n_unique,
    )
