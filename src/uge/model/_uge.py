from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import torch
from anndata.abc import CSRDataset
from scipy import sparse
from scvi import REGISTRY_KEYS
from scvi.data import AnnDataManager
from scvi.data.fields import CategoricalObsField, LabelsWithUnlabeledObsField, LayerField
from scvi.dataloaders import DataSplitter
from scvi.model._utils import parse_device_args
from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin

from uge.module import UGEModule
from uge.module._module import CONDITION_KEY, SPECIES_KEY
from uge.pp._concat import concat_species
from uge.pp._orthologs import ortholog_pairs
from uge.pp._validate import validate_setup

from ._alignment import GeneAlignment, alignment_pairs
from ._genes import GenesMixin
from ._inputs import (
    check_genes,
    check_params,
    check_positive_int,
    choose_likelihood,
    token_genes,
)
from ._insilico import InSilicoMixin
from ._io import read_model, write_model
from ._memory import release_memory
from ._query import QueryMixin
from ._reactome import ReactomeMixin
from ._training import UGETrainingPlan
from ._transfer import TransferMixin

logger = logging.getLogger(__name__)


# Lightning's gradient clipping (total norm) by default: without it, training on tiny data
# (Brawand, 4 species, 250 epochs at lr 1e-2) diverged after about 200 epochs, the latents
# growing to norm ~60 and every species' organs falling to chance
GRADIENT_CLIP = 1.0


def default_max_epochs(n_obs: int, batch_size: int = 32, steps: int = 1800) -> int:
    """Epochs that give about ``steps`` optimiser steps on 90% of ``n_obs`` samples (20-250).

    1,800 steps of 32 samples train the default model on the 875 training samples of
    ``uge demo`` in about two minutes on a 2-core CPU. At most 250 epochs: on tiny data
    (Brawand bulk organs, 36-80 samples of 2-5 species) 250 epochs with gradient clipping
    (the default of :meth:`UGE.train`) matched the 1-NN ortholog baseline in every seed,
    where 100 epochs left some species below it (``benchmarks/bench_species.py``).
    """
    per_epoch = max(1, int(np.ceil(0.9 * n_obs / batch_size)))
    return int(np.clip(round(steps / per_epoch), 20, 250))


class SparseDataSplitter(DataSplitter):
    """scvi-tools' data splitter that leaves sparse CSR minibatches sparse.

    scvi-tools densifies them after they reach the device; the module instead reads only
    their stored entries (:mod:`uge.module._sparse`).
    """

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Return the minibatch as it is."""
        return batch


class UGE(
    QueryMixin,
    TransferMixin,
    ReactomeMixin,
    GenesMixin,
    InSilicoMixin,
    UnsupervisedTrainingMixin,
    BaseModelClass,
):
    """Universal Gene Embedding: a transformer shared by species, with species' own genes.

    Each sample is a sequence of gene tokens of its own species (at most ``max_tokens``),
    embedded as gene embedding + expression-value embedding + external token (the sample's
    condition), after a ``<cls>`` token and a species token. A transformer encoder turns it
    into a sample latent (the ``<cls>`` output, projected by a species-specific affine map into
    a common subspace). A reactome-aligned decoder reconstructs every gene of a species from
    the latent and that gene's embedding in the gene space shared by all species. Gene
    embeddings of different species are aligned by a similarity loss on gene pairs (an
    ortholog prior, reactome similarity or both: ``gene_alignment``); sample latents of
    different species by a maximum mean discrepancy penalty within each condition.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata`.
    orthologs
        Optional ortholog table: one column per species, named by species, holding the
        species' own gene names (``var["gene"]``), one row per pair. Any homology type and
        many-to-many pairs are allowed; other columns are ignored; pairs naming genes absent
        from the data are dropped (the count is logged). A prior: UGE runs without it, but
        then has no way to tell which genes (and so which groups of samples) correspond
        across species, and mixes the species without matching them.
    likelihood
        ``"auto"`` (integer counts get ``"nb"``, anything else ``"gaussian"``), ``"nb"``
        (negative binomial; requires raw counts) or ``"gaussian"`` (log-normalised input).
    d_model
        Width of the token embeddings and the transformer.
    n_layers
        Transformer blocks.
    n_heads
        Attention heads.
    n_latent
        Dimension of the sample latent (``obsm["X_uge"]``).
    n_hidden
        Hidden width of the decoder.
    dropout
        Dropout rate.
    max_tokens
        Most gene tokens per sample. Each sample uses its top expressed genes among its
        species' token genes: ``var["highly_variable"]`` when present, else the species'
        ``max_tokens`` most variable genes (log-normalised). Cost stays flat as genes grow.
    gene_align_weight
        Weight of the gene alignment: a gene of a later species that is paired (see
        ``gene_alignment``) is embedded as its partners' mean embedding plus a residual of
        its own, and this weights the penalty on the residuals (relative to the
        embeddings' size). With the default 10, paired genes stay within about 1% of their
        partners; at 1, residuals of about 5% already made paired genes hard to tell apart
        from others in the learned gene space (``docs/model.md``).
    latent_align_weight
        Weight of the cross-species latent alignment (MMD between species within each
        condition). Kept weak by default: with an ortholog prior, stronger weights made
        alignment less reliable on the simulated study.
    gene_alignment
        Where the gene pairs that the model aligns come from (paper 3.5). ``"orthologs"``:
        the ortholog prior as given. ``"reactome"``: genes of two species matched one to
        one by the similarity of their reactomes (:func:`uge.tl.reactome` of the registered
        labels and conditions; responsive genes only), most similar first, down to
        ``min_similarity``. ``"both"`` (default): the same matching with a bonus for
        ortholog pairs, so that the prior is kept unless the data contradict it (a gene
        whose reactome matches another gene clearly better than its ortholog is paired
        with that gene: a wrong ortholog is overridden), plus reactome matches between
        genes the prior leaves unpaired. Without labels or conditions, ``"both"`` uses the
        orthologs only. What was done is in ``model.gene_alignment_`` and
        ``docs/model.md`` explains the rule.
    min_similarity
        Lowest reactome similarity (:func:`uge.tl.map_genes_by_reactome`'s score) of a
        pair outside the prior that the matching takes.
    classification_weight
        Weight of a label classifier on the latent, trained end to end on the labelled
        samples (paper 3.6; scANVI's classifier, :class:`scvi.module.Classifier`).
        ``None``: 1 when labels were registered with an ``unlabeled_category`` (the
        semi-supervised set-up), else 0 (no classifier: labels then serve the reactome,
        perturbation shifts and kNN label transfer only, so that registering the labels of
        every species does not train on the labels to be predicted).

    Examples
    --------
    >>> adata = uge.pp.concat_species({"mouse": adata_mouse, "rat": adata_rat})
    >>> uge.UGE.setup_anndata(adata, labels_key="organ", condition_key="drug")
    >>> model = uge.UGE(adata, orthologs=orthologs)
    >>> model.train()
    >>> adata.obsm["X_uge"] = model.get_latent_representation()
    >>> sc.pp.neighbors(adata, use_rep="X_uge")
    """

    _module_cls = UGEModule
    _training_plan_cls = UGETrainingPlan
    _data_splitter_cls = SparseDataSplitter

    def __init__(
        self,
        adata: ad.AnnData,
        orthologs: pd.DataFrame | dict | None = None,
        likelihood: Literal["auto", "nb", "gaussian"] = "auto",
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        n_latent: int = 32,
        n_hidden: int = 128,
        dropout: float = 0.0,
        max_tokens: int = 128,
        gene_align_weight: float = 10.0,
        latent_align_weight: float = 0.1,
        gene_alignment: GeneAlignment = "both",
        min_similarity: float = 0.6,
        classification_weight: float | None = None,
    ) -> None:
        if adata is None:
            raise ValueError("UGE needs the AnnData registered with UGE.setup_anndata.")
        check_params(
            d_model=d_model,
            n_layers=n_layers,
            n_heads=n_heads,
            n_latent=n_latent,
            n_hidden=n_hidden,
            max_tokens=max_tokens,
            dropout=dropout,
            gene_align_weight=gene_align_weight,
            latent_align_weight=latent_align_weight,
            min_similarity=min_similarity,
        )
        super().__init__(adata)
        manager = self.adata_manager
        args = manager.registry["setup_args"]
        self.species_, gene_species = self._registered_species()
        x = manager.get_from_registry(REGISTRY_KEYS.X_KEY)
        where = "adata.X" if args["layer"] is None else f"adata.layers[{args['layer']!r}]"
        likelihood = choose_likelihood(x, likelihood, where)
        obs_species = manager.get_from_registry(SPECIES_KEY).ravel()
        self.prior_pairs_ = ortholog_pairs(
            orthologs, self.adata.var, args["species_key"], self.species_
        )
        pairs, self.gene_alignment_ = alignment_pairs(
            self.adata,
            args,
            self.species_,
            self.prior_pairs_,
            gene_alignment,
            min_similarity,
        )
        candidates, gene_mean, gene_std, baseline = token_genes(
            self.adata,
            x,
            obs_species,
            gene_species,
            len(self.species_),
            max_tokens,
            likelihood,
            pairs,
        )
        n_conditions = self._n_conditions()
        self.labels_, self.unlabeled_category_ = self._registered_labels()
        if classification_weight is None:
            classification_weight = 1.0 if self.unlabeled_category_ is not None else 0.0
        if classification_weight > 0 and len(self.labels_) < 2:
            raise ValueError(
                f"classification_weight={classification_weight} trains a label classifier, "
                "which needs at least two labels registered with "
                "UGE.setup_anndata(adata, labels_key=...)."
            )
        self.module = self._module_cls(
            gene_species=torch.tensor(gene_species, dtype=torch.long),
            token_candidates=torch.as_tensor(candidates),
            gene_mean=torch.as_tensor(gene_mean, dtype=torch.float32),
            gene_std=torch.as_tensor(gene_std, dtype=torch.float32),
            gene_baseline=torch.as_tensor(baseline, dtype=torch.float32),
            n_conditions=n_conditions,
            n_batch=self.summary_stats.n_batch,
            likelihood=likelihood,
            d_model=d_model,
            n_layers=n_layers,
            n_heads=n_heads,
            n_latent=n_latent,
            n_hidden=n_hidden,
            dropout=dropout,
            max_tokens=max_tokens,
            gene_pairs=torch.as_tensor(pairs),
            gene_align_weight=gene_align_weight,
            latent_align_weight=latent_align_weight,
            n_labels=len(self.labels_),
            classification_weight=classification_weight,
        )
        self._model_summary_string = (
            f"UGE: species {self.species_}, {self.adata.n_vars} genes, likelihood "
            f"{likelihood!r}, d_model={d_model}, n_layers={n_layers}, n_heads={n_heads}, "
            f"n_latent={n_latent}, max_tokens={self.module.max_tokens}, "
            f"{len(pairs)} aligned gene pairs ({self.gene_alignment_['mode']}: "
            f"{len(self.prior_pairs_)} ortholog pairs, "
            f"{self.gene_alignment_['overridden']} overridden and "
            f"{self.gene_alignment_['added']} added by reactome similarity)."
        )
        init = self._get_init_params(locals())  # holds the resolved likelihood
        if orthologs is not None:
            init["non_kwargs"]["orthologs"] = pd.DataFrame(orthologs).to_dict(orient="list")
        self.init_params_ = init

    def _registered_species(self) -> tuple[list[str], np.ndarray]:
        """The registered species, and each gene's species as a code into them (-1 for a
        species without samples)."""
        manager = self.adata_manager
        species = [str(s) for s in manager.get_state_registry(SPECIES_KEY).categorical_mapping]
        key = manager.registry["setup_args"]["species_key"]
        codes = pd.Categorical(self.adata.var[key].astype(str), categories=species).codes
        return species, codes.astype(np.int64)

    def _n_conditions(self) -> int:
        """Registered conditions (the external tokens); 0 without a condition."""
        if self.adata_manager.registry["setup_args"]["condition_key"] is None:
            return 0
        return len(self.adata_manager.get_state_registry(CONDITION_KEY).categorical_mapping)

    def _registered_labels(self) -> tuple[list[str], str | None]:
        """The registered labels (without the unlabelled category) and that category."""
        if self.adata_manager.registry["setup_args"]["labels_key"] is None:
            return [], None
        state = self.adata_manager.get_state_registry(REGISTRY_KEYS.LABELS_KEY)
        unlabeled = state.get("unlabeled_category")
        labels = [str(v) for v in state.categorical_mapping if unlabeled is None or v != unlabeled]
        return labels, None if unlabeled is None else str(unlabeled)

    # ------------------------------------------------------------------ setup
    @classmethod
    def setup_anndata(
        cls,
        adata: ad.AnnData,
        layer: str | None = None,
        species_key: str = "species",
        labels_key: str | None = None,
        condition_key: str | None = None,
        control_condition: str = "control",
        batch_key: str | None = None,
        unlabeled_category: str | None = None,
        **kwargs,
    ) -> None:
        """Register an AnnData with samples of several species.

        Build it with :func:`uge.pp.concat_species`. Checks the input and raises an error that
        names the problem before any work. scvi-tools records the registration in
        ``adata.uns["_scvi_uuid"]``, ``adata.uns["_scvi_manager_uuid"]`` and
        ``adata.obs["_scvi_*"]`` columns; nothing else is changed.

        Parameters
        ----------
        adata
            AnnData with ``obs[species_key]`` and ``var[species_key]``.
        layer
            Layer with the expression values; ``None`` for ``adata.X``. Raw counts (integers)
            get a negative binomial likelihood, log-normalised values a Gaussian one.
        species_key
            Column of ``obs`` and ``var`` holding each sample's and gene's species.
        labels_key
            Optional ``obs`` column with labels (organ, cell type). Labels feed the reactome
            of the gene alignment (``gene_alignment``), the shifts of
            :meth:`predict_perturbation`, and label transfer (:meth:`predict_labels`).
        condition_key
            Optional ``obs`` column with the condition (drug, perturbation) of each sample. It
            becomes the external token of every gene of the sample (paper 3.1.3).
        control_condition
            Value of ``obs[condition_key]`` for untreated samples.
        batch_key
            Optional ``obs`` column with batches, modelled in the encoder and decoder.
        unlabeled_category
            Value of ``obs[labels_key]`` for samples without a label, scANVI style (e.g. all
            samples of the species to annotate). With it, the model trains a label
            classifier on the latent over the labelled samples only (``UGE``'s
            ``classification_weight``), and unlabelled samples are left out of the
            reactome; zero-shot annotation stays zero-shot when the target species is
            unlabelled.
        """
        if adata.is_view:
            # as scanpy does: a view becomes an actual AnnData in place (same object)
            logger.warning("Received a view of an AnnData: making it an actual AnnData.")
            adata._init_as_actual(adata.copy())
        validate_setup(
            adata,
            layer,
            species_key,
            labels_key,
            condition_key,
            control_condition,
            batch_key,
            # a transferred setup (loading, query data) registers data for a trained model
            training="source_registry" not in kwargs,
        )
        setup_method_args = cls._get_setup_method_args(**locals())
        fields = [
            LayerField(REGISTRY_KEYS.X_KEY, layer, is_count_data=False),
            CategoricalObsField(SPECIES_KEY, species_key),
            (
                CategoricalObsField(REGISTRY_KEYS.LABELS_KEY, labels_key)
                if unlabeled_category is None or labels_key is None
                else LabelsWithUnlabeledObsField(
                    REGISTRY_KEYS.LABELS_KEY, labels_key, unlabeled_category
                )
            ),
            CategoricalObsField(CONDITION_KEY, condition_key),
            CategoricalObsField(REGISTRY_KEYS.BATCH_KEY, batch_key),
        ]
        manager = AnnDataManager(fields=fields, setup_method_args=setup_method_args)
        manager.register_fields(adata, **kwargs)
        cls.register_manager(manager)

    @classmethod
    def setup_mudata(
        cls,
        mdata,
        layer: str | None = None,
        species_key: str = "species",
        labels_key: str | None = None,
        condition_key: str | None = None,
        control_condition: str = "control",
        batch_key: str | None = None,
    ) -> ad.AnnData:
        """Register a MuData with one modality per species.

        UGE trains on one AnnData holding all species; this builds it from the modalities
        (named by species) with :func:`uge.pp.concat_species`, registers it with
        :meth:`setup_anndata` and returns it. Pass the returned AnnData to :class:`UGE`;
        outputs (``obsm["X_uge"]`` etc.) go there. ``labels_key``, ``condition_key`` and
        ``batch_key`` refer to the modalities' ``obs`` columns.

        Parameters
        ----------
        mdata
            MuData with one modality per species, named by species.
        layer, species_key, labels_key, condition_key, control_condition, batch_key
            As in :meth:`setup_anndata`.

        Returns
        -------
        anndata.AnnData
            The registered AnnData with all species.
        """
        mods = getattr(mdata, "mod", None)
        if not mods:
            raise TypeError(
                f"setup_mudata expects a MuData with one modality per species, got "
                f"{type(mdata).__name__}."
            )
        adata = concat_species(dict(mods), species_key=species_key)
        cls.setup_anndata(
            adata,
            layer=layer,
            species_key=species_key,
            labels_key=labels_key,
            condition_key=condition_key,
            control_condition=control_condition,
            batch_key=batch_key,
        )
        return adata

    def _validate_anndata(
        self, adata: ad.AnnData | None = None, copy_if_view: bool = True
    ) -> ad.AnnData:
        if adata is not None and adata is not self.adata:
            self._check_compatible(adata)
        return super()._validate_anndata(adata, copy_if_view)

    def _check_compatible(self, adata: ad.AnnData) -> None:
        """Clear errors for new data whose genes or species the model does not know."""
        args = self.adata_manager.registry["setup_args"]
        check_genes(
            adata.var_names,
            self.adata.var_names,
            "Subset and order it as the training data, e.g. "
            "`adata = adata[:, model.adata.var_names]`, after adding missing genes as zeros.",
        )
        key = args["species_key"]
        if key not in adata.obs:
            raise KeyError(f"adata.obs[{key!r}] not found: the model needs each sample's species.")
        unseen = sorted(set(adata.obs[key].astype(str)) - set(self.species_))
        if unseen:
            raise ValueError(
                f"Species {unseen} were not seen at training time; the model knows "
                f"{self.species_}. Add them to this model with UGE.load_query_data, or "
                "train a model on data that includes them."
            )
        validate_setup(
            adata,
            args["layer"],
            key,
            args["labels_key"],
            args["condition_key"],
            args["control_condition"],
            args["batch_key"],
            training=False,
        )

    # ---------------------------------------------------------------- training
    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int = 32,
        early_stopping: bool = False,
        accelerator: str = "auto",
        devices: int | list[int] | str = "auto",
        plan_kwargs: dict | None = None,
        deterministic: bool | Literal["warn"] = "warn",
        **kwargs,
    ):
        """Train the model (scvi-tools semantics).

        Parameters
        ----------
        max_epochs
            Passes through the data; ``None`` picks a number from the data size (see
            ``default_max_epochs``).
        batch_size
            Samples per minibatch.
        early_stopping
            Stop when the validation loss stops improving.
        accelerator, devices
            Lightning devices (``"cpu"``, ``"gpu"``, ``"auto"``). For data-parallel training
            pass ``devices=N`` (or a list) with ``strategy="ddp_find_unused_parameters_true"``
            (or ``"ddp"``) in ``kwargs``: Lightning's DDP, on CPU (gloo) or GPUs, also across
            nodes (``num_nodes``); ``batch_size`` is per process.
        deterministic
            Lightning's deterministic mode: with the same ``scvi.settings.seed`` set before
            building the model, two trainings on the same machine give identical latents.
            ``"warn"`` (default) uses deterministic algorithms wherever torch has them and
            warns where it has none (some GPU kernels), with cudnn's timing-based
            autotuner off (``benchmark=False``); ``False`` allows faster
            non-deterministic ones (on a 2-core CPU, latents then differ by about 1e-3
            between runs).
        plan_kwargs
            Keyword arguments of :class:`scvi.train.TrainingPlan`. ``lr`` defaults to 1e-2:
            on the simulated study, drug responses were learned well enough to transfer
            across species within the default steps only with 1e-2 and minibatches of 32
            (3e-3 and 128 left them underfit; see ``docs/model.md``).
        **kwargs
            Other arguments of :meth:`scvi.model.base.UnsupervisedTrainingMixin.train`
            (``train_size``, ``datasplitter_kwargs``, ``load_sparse_tensor``: by default
            ``True`` for CSR data, in memory or backed, whose minibatches then stay sparse
            (``docs/scale.md``); Lightning trainer arguments such as
            ``strategy``, ``num_nodes`` or ``precision="bf16-mixed"``; the default, 32-bit,
            was faster on the CPUs measured: ``docs/scale.md``). ``gradient_clip_val``
            defaults to 1.0 (total gradient norm): without it, long training on tiny data
            diverged (``docs/model.md``); ``None`` turns clipping off.
        """
        check_positive_int("batch_size", batch_size)
        if max_epochs is not None:
            check_positive_int("max_epochs", max_epochs)
        if max_epochs is None:
            max_epochs = default_max_epochs(self.adata.n_obs, batch_size)
        # scvi-tools leaves the module in eval mode after training; train with dropout on.
        self.module.train()
        kwargs.setdefault("load_sparse_tensor", self._sparse_input(self.adata))
        kwargs.setdefault("gradient_clip_val", GRADIENT_CLIP)
        # cudnn's autotuner picks kernels by timing, which deterministic mode rules out
        kwargs.setdefault("benchmark", not deterministic)
        return super().train(
            max_epochs=max_epochs,
            batch_size=batch_size,
            early_stopping=early_stopping,
            accelerator=accelerator,
            devices=devices,
            # a query model trains without weight decay, which would move frozen weights
            plan_kwargs={"lr": 1e-2, **self._query_plan, **(plan_kwargs or {})},
            deterministic=deterministic,
            **kwargs,
        )

    # ----------------------------------------------------------------- outputs
    @torch.inference_mode()
    def _map_batches(
        self,
        fn: Callable[[dict, dict, slice], torch.Tensor],
        adata: ad.AnnData | None,
        indices: Sequence[int] | None,
        batch_size: int | None,
    ) -> np.ndarray:
        adata = self._validate_anndata(adata)
        self.module.eval()
        loader = self._make_data_loader(
            adata=adata,
            indices=indices,
            batch_size=batch_size,
            load_sparse_tensor=self._sparse_input(adata),
        )
        out, start = [], 0
        for tensors in loader:
            inference = self.module.inference(**self.module._get_inference_input(tensors))
            stop = start + len(inference["z"])
            out.append(fn(tensors, inference, slice(start, stop)).cpu().numpy())
            start = stop
            release_memory()  # else freed minibatch memory piles up over many batches
        return np.concatenate(out)

    def _sparse_input(self, adata: ad.AnnData) -> bool:
        """Whether ``adata``'s registered expression is CSR sparse (in memory or backed):
        its minibatches then reach the module as sparse CSR tensors."""
        x = self.get_anndata_manager(adata).get_from_registry(REGISTRY_KEYS.X_KEY)
        return isinstance(x, sparse.csr_matrix | CSRDataset)

    def get_latent_representation(
        self,
        adata: ad.AnnData | None = None,
        indices: Sequence[int] | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Sample latents in the space shared by species (the projected ``<cls>`` output).

        Parameters
        ----------
        adata
            AnnData with the model's genes; ``None`` for the training data.
        indices
            Samples to use; all when ``None``.
        batch_size
            Minibatch size; scvi-tools' default when ``None``.

        Returns
        -------
        numpy.ndarray
            ``(n_samples, n_latent)`` latents; set them as ``adata.obsm["X_uge"]`` for
            ``sc.pp.neighbors(adata, use_rep="X_uge")``.
        """
        self._check_if_trained(warn=True)
        return self._map_batches(lambda t, inf, _: inf["z"], adata, indices, batch_size)

    def get_reconstructed_expression(
        self,
        adata: ad.AnnData | None = None,
        indices: Sequence[int] | None = None,
        target_species: str | None = None,
        batch_size: int | None = None,
        layer: str | None = "uge_reconstruction",
    ) -> pd.DataFrame:
        """Expression decoded from each sample's latent.

        With counts, the expected counts at each sample's own library size; with
        log-normalised input, the expected log-normalised values.

        Parameters
        ----------
        adata
            AnnData with the model's genes; ``None`` for the training data.
        indices
            Samples to decode; all when ``None``.
        target_species
            Decode into this species' genes (any species the model knows; the latent is
            shared); ``None`` decodes each sample into its own species' genes.
        batch_size
            Minibatch size.
        layer
            Write the result to ``adata.layers[layer]`` (rows not in ``indices`` hold NaN;
            genes of other species hold 0); ``None`` to write nothing.

        Returns
        -------
        pandas.DataFrame
            Decoded samples × all genes (genes of other species are 0).
        """
        self._check_if_trained(warn=True)
        if target_species is not None:
            self._check_species(target_species, "target_species")

        def decode(tensors: dict, inference: dict, _: slice) -> torch.Tensor:
            if target_species is None:
                batch = self.module._codes(tensors, REGISTRY_KEYS.BATCH_KEY)
                z = inference["z"]
                out = self.module.generative(z, inference["species"], inference["library"], batch)
                return self.module.expected_values(out, len(z))
            target = self.species_.index(target_species)
            return self._decode_into(tensors, inference, inference["z"], target)

        values = self._map_batches(decode, adata, indices, batch_size)
        adata = self.adata if adata is None else adata
        rows = np.arange(adata.n_obs) if indices is None else np.asarray(indices)
        if layer is not None:
            full = np.full(adata.shape, np.nan, dtype=np.float32)
            full[rows] = values
            adata.layers[layer] = full
        return pd.DataFrame(values, index=adata.obs_names[rows], columns=adata.var_names)

    def _check_species(self, name: str, what: str) -> None:
        if name not in self.species_:
            raise ValueError(f"{what}={name!r} is not one of the model's species {self.species_}.")

    # --------------------------------------------------------------- save/load
    def save(self, dir_path: str, overwrite: bool = False, save_anndata: bool = False) -> None:
        """Save the model to a directory.

        Weights go to ``model.pt`` (tensors only, read back with
        ``torch.load(weights_only=True)``), everything else to ``uge_model.json``; loading
        never executes code from the files.

        Parameters
        ----------
        dir_path
            Directory to write.
        overwrite
            Replace an existing directory's model files.
        save_anndata
            Also write the training AnnData to ``adata.h5ad``.
        """
        from uge import __version__

        meta = {
            "model": type(self).__name__,
            "uge_version": __version__,
            "var_names": self.adata.var_names.to_numpy(dtype=str),
            "registry": self.adata_manager.registry,
            "init_params": self.init_params_,
            "is_trained": self.is_trained_,
            "history": self.history_,
            "query": self.query_,
        }
        write_model(dir_path, overwrite, self.module.state_dict(), meta)
        if save_anndata:
            self.adata.write_h5ad(os.path.join(dir_path, "adata.h5ad"))

    @classmethod
    def load(cls, dir_path: str, adata: ad.AnnData | None = None, accelerator: str = "auto") -> UGE:
        """Load a model saved with :meth:`save`.

        Parameters
        ----------
        dir_path
            Directory written by :meth:`save`.
        adata
            AnnData with the same genes, in the same order, as the training data; it is
            registered with the saved setup. ``None`` reads ``adata.h5ad`` saved with the model.
        accelerator
            ``"cpu"``, ``"gpu"`` or ``"auto"``.
        """
        state, meta = read_model(dir_path)
        if meta.get("model") != cls.__name__:
            raise ValueError(f"{dir_path} holds a {meta.get('model')!r} model, not {cls.__name__}.")
        if adata is None:
            path = os.path.join(dir_path, "adata.h5ad")
            if not os.path.exists(path):
                raise ValueError(
                    f"No AnnData saved in {dir_path}: pass the AnnData to load with, "
                    "`UGE.load(dir_path, adata)`, or save with `save(..., save_anndata=True)`."
                )
            adata = ad.read_h5ad(path)
        check_genes(
            adata.var_names,
            pd.Index(meta["var_names"]),
            "Pass an AnnData with the training genes in training order.",
        )
        registry = meta["registry"]
        cls.setup_anndata(adata, source_registry=registry, **registry["setup_args"])
        init = meta["init_params"]
        if meta.get("query"):
            model = cls.__new__(cls)
            BaseModelClass.__init__(model, adata)
            model._load_query(meta, state)
        else:
            model = cls(adata, **init["non_kwargs"], **init.get("kwargs", {}))
        model.module.load_state_dict(state)
        model.is_trained_ = meta["is_trained"]
        model.history_ = meta["history"]
        _, _, device = parse_device_args(accelerator, "auto", return_device="torch")
        model.to_device(device)
        model.module.eval()
        return model
