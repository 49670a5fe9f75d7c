from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import torch
from scvi import REGISTRY_KEYS
from scvi.data import AnnDataManager
from scvi.data.fields import CategoricalObsField, LayerField
from scvi.model._utils import parse_device_args
from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin

from uge.module import UGEModule
from uge.module._module import CONDITION_KEY, SPECIES_KEY
from uge.pp._concat import concat_species
from uge.pp._orthologs import ortholog_pairs
from uge.pp._validate import validate_setup

from ._inputs import check_genes, choose_likelihood, token_genes
from ._io import read_model, write_model

logger = logging.getLogger(__name__)


def default_max_epochs(n_obs: int, batch_size: int = 32, steps: int = 1800) -> int:
    """Epochs that give about ``steps`` optimiser steps on 90% of ``n_obs`` samples (20-400).

    1,800 steps of 32 samples train the default model on the 875 training samples of
    ``uge demo`` in about two minutes on a 2-core CPU.
    """
    per_epoch = max(1, int(np.ceil(0.9 * n_obs / batch_size)))
    return int(np.clip(round(steps / per_epoch), 20, 400))


class UGE(UnsupervisedTrainingMixin, BaseModelClass):
    """Universal Gene Embedding: a transformer shared by species, with species' own genes.

    Each sample is a sequence of gene tokens of its own species (at most ``max_tokens``),
    embedded as gene embedding + expression-value embedding + external token (the sample's
    condition), after a ``<cls>`` token and a species token. A transformer encoder turns it
    into a sample latent (the ``<cls>`` output, projected by a species-specific affine map into
    a common subspace). A reactome-aligned decoder reconstructs every gene of a species from
    the latent and that gene's embedding in the gene space shared by all species. Gene
    embeddings of different species are aligned by a similarity loss on gene pairs (an
    ortholog prior, when given); sample latents of different species by a maximum mean
    discrepancy penalty within each condition.

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
        Weight of the gene alignment: a gene of a later species that has orthologs is
        embedded as its orthologs' mean embedding plus a residual of its own, and this
        weights the penalty on the residuals (relative to the embeddings' size).
    latent_align_weight
        Weight of the cross-species latent alignment (MMD between species within each
        condition). Kept weak by default: with an ortholog prior, stronger weights made
        alignment less reliable on the simulated study.

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
        gene_align_weight: float = 1.0,
        latent_align_weight: float = 0.1,
    ) -> None:
        if adata is None:
            raise ValueError("UGE needs the AnnData registered with UGE.setup_anndata.")
        super().__init__(adata)
        manager = self.adata_manager
        args = manager.registry["setup_args"]
        self.species_ = [
            str(s) for s in manager.get_state_registry(SPECIES_KEY).categorical_mapping
        ]
        gene_species = pd.Categorical(
            self.adata.var[args["species_key"]].astype(str), categories=self.species_
        ).codes
        x = manager.get_from_registry(REGISTRY_KEYS.X_KEY)
        where = "adata.X" if args["layer"] is None else f"adata.layers[{args['layer']!r}]"
        likelihood = choose_likelihood(x, likelihood, where)
        obs_species = manager.get_from_registry(SPECIES_KEY).ravel()
        pairs = ortholog_pairs(orthologs, self.adata.var, args["species_key"], self.species_)
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
        n_conditions = (
            len(manager.get_state_registry(CONDITION_KEY).categorical_mapping)
            if args["condition_key"] is not None
            else 0
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
        )
        self._model_summary_string = (
            f"UGE: species {self.species_}, {self.adata.n_vars} genes, likelihood "
            f"{likelihood!r}, d_model={d_model}, n_layers={n_layers}, n_heads={n_heads}, "
            f"n_latent={n_latent}, max_tokens={self.module.max_tokens}, "
            f"{len(pairs)} ortholog pairs."
        )
        init = self._get_init_params(locals())  # holds the resolved likelihood
        if orthologs is not None:
            init["non_kwargs"]["orthologs"] = pd.DataFrame(orthologs).to_dict(orient="list")
        self.init_params_ = init

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
            Optional ``obs`` column with labels (organ, cell type) for label transfer.
        condition_key
            Optional ``obs`` column with the condition (drug, perturbation) of each sample. It
            becomes the external token of every gene of the sample (paper 3.1.3).
        control_condition
            Value of ``obs[condition_key]`` for untreated samples.
        batch_key
            Optional ``obs`` column with batches, modelled in the encoder and decoder.
        """
        validate_setup(
            adata, layer, species_key, labels_key, condition_key, control_condition, batch_key
        )
        setup_method_args = cls._get_setup_method_args(**locals())
        fields = [
            LayerField(REGISTRY_KEYS.X_KEY, layer, is_count_data=False),
            CategoricalObsField(SPECIES_KEY, species_key),
            CategoricalObsField(REGISTRY_KEYS.LABELS_KEY, labels_key),
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
                f"{self.species_}. Train a model on data that includes them."
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
            Lightning devices (``"cpu"``, ``"gpu"``, ``"auto"``).
        plan_kwargs
            Keyword arguments of :class:`scvi.train.TrainingPlan`. ``lr`` defaults to 1e-2:
            on the simulated study, drug responses were learned well enough to transfer
            across species within the default steps only with 1e-2 and minibatches of 32
            (3e-3 and 128 left them underfit; see ``docs/model.md``).
        **kwargs
            Other arguments of :meth:`scvi.model.base.UnsupervisedTrainingMixin.train`
            (``train_size``, ``datasplitter_kwargs``, Lightning trainer arguments).
        """
        if max_epochs is None:
            max_epochs = default_max_epochs(self.adata.n_obs, batch_size)
        # scvi-tools leaves the module in eval mode after training; train with dropout on.
        self.module.train()
        return super().train(
            max_epochs=max_epochs,
            batch_size=batch_size,
            early_stopping=early_stopping,
            accelerator=accelerator,
            devices=devices,
            plan_kwargs={"lr": 1e-2, **(plan_kwargs or {})},
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
        loader = self._make_data_loader(adata=adata, indices=indices, batch_size=batch_size)
        out, start = [], 0
        for tensors in loader:
            inference = self.module.inference(**self.module._get_inference_input(tensors))
            stop = start + len(inference["z"])
            out.append(fn(tensors, inference, slice(start, stop)).cpu().numpy())
            start = stop
        return np.concatenate(out)

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

    def get_gene_embedding(self) -> pd.DataFrame:
        """Gene embeddings in the space shared by all species.

        Also written to ``adata.varm["uge_gene_embedding"]`` of the training AnnData.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``var_names``, one column per embedding dimension.
        """
        emb = self.module.embedding.gene().detach().cpu().numpy()
        self.adata.varm["uge_gene_embedding"] = emb
        return pd.DataFrame(
            emb, index=self.adata.var_names, columns=[f"uge_{i}" for i in range(emb.shape[1])]
        )

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
                return self.module.generative(
                    inference["z"], inference["species"], inference["library"], batch=batch
                )["mean"]
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

    # ------------------------------------------------------------ predictions
    def predict_labels(
        self,
        source_species: str,
        target_species: str,
        labels_key: str | None = None,
        adata: ad.AnnData | None = None,
        n_neighbors: int = 15,
        min_confidence: float = 0.0,
        batch_size: int | None = None,
    ) -> pd.DataFrame:
        """Annotate one species' samples with another species' labels (zero-shot).

        Computes the latents into ``adata.obsm["X_uge"]`` and gives each target sample the
        majority label of its ``n_neighbors`` nearest source samples there
        (:func:`uge.tl.transfer_labels`). Target labels are never read; compare with them
        by :func:`uge.tl.annotation_scores` and :func:`uge.pl.annotation_accuracy`.

        Parameters
        ----------
        source_species, target_species
            Species whose labels are transferred, and species that is annotated.
        labels_key
            ``obs`` column with the source's labels; ``None`` for the registered
            ``labels_key``.
        adata
            AnnData with the model's genes; ``None`` for the training data.
        n_neighbors
            Source neighbours that vote.
        min_confidence
            Predictions whose share of votes is lower are marked ``"unknown"``.
        batch_size
            Minibatch size for the latents.

        Returns
        -------
        pandas.DataFrame
            ``prediction`` and ``confidence`` (share of votes) for the target samples, also
            written to ``adata.obs["uge_prediction"]`` and ``adata.obs["uge_confidence"]``
            (NaN for other samples); the arguments go to
            ``adata.uns["uge"]["label_transfer"]["uge"]``.
        """
        from uge.tl import transfer_labels

        args = self.adata_manager.registry["setup_args"]
        labels_key = labels_key or args["labels_key"]
        if labels_key is None:
            raise ValueError(
                "No labels: pass `labels_key` (an obs column with the source's labels) or "
                "register one with UGE.setup_anndata(adata, labels_key=...)."
            )
        self._check_species(source_species, "source_species")
        self._check_species(target_species, "target_species")
        adata = self.adata if adata is None else adata
        if labels_key not in adata.obs:
            raise KeyError(f"adata.obs[{labels_key!r}] not found (passed as `labels_key`).")
        adata.obsm["X_uge"] = self.get_latent_representation(adata, batch_size=batch_size)
        return transfer_labels(
            adata,
            labels_key,
            source_species,
            target_species,
            use_rep="X_uge",
            species_key=args["species_key"],
            n_neighbors=n_neighbors,
            min_confidence=min_confidence,
        )

    def predict_perturbation(
        self,
        condition: str,
        target_species: str,
        labels: Sequence[str] | None = None,
        source_species: str | None = None,
        method: Literal["latent_arithmetic", "condition_token"] = "latent_arithmetic",
        layer: str | None = None,
        adata: ad.AnnData | None = None,
        batch_size: int | None = None,
    ) -> ad.AnnData:
        """Predict the target species' control samples under a condition measured elsewhere.

        ``"latent_arithmetic"`` (default; paper 4.2): the condition's shift in the latent
        space, the mean latent of the source species' ``condition`` samples minus that of
        its control samples, is measured within each label (e.g. organ) the source has in
        both; labels the source lacks get the mean shift over its labels. Each target
        control sample's latent plus the shift of its label is decoded into the target's
        genes. ``"condition_token"``: each target control sample is encoded again with
        ``condition`` as its external token, and decoded. Latent arithmetic is the default
        because it predicted the simulated study's held-out rat x tetracycline better
        (``uge demo`` reports both).

        Parameters
        ----------
        condition
            A condition of the registered ``condition_key`` other than the control.
        target_species
            Species to predict.
        labels
            Predict only the target's control samples with these labels (values of the
            registered ``labels_key``); ``None`` for all.
        source_species
            Species whose ``condition`` samples give the shift; ``None`` picks the species
            other than the target with most ``condition`` samples.
        method
            ``"latent_arithmetic"`` or ``"condition_token"``.
        layer
            Layer of ``adata`` to write to; ``None`` for ``f"uge_{condition}"``.
        adata
            AnnData with the model's genes; ``None`` for the training data.
        batch_size
            Minibatch size.

        Returns
        -------
        anndata.AnnData
            Predicted samples × target genes: the target's control samples (``obs`` copied,
            plus ``obs["uge_shift_from"]``: ``"same label"`` or ``"mean over labels"``),
            with expected counts at each sample's own library size (counts input) or
            log-normalised values (log-normalised input); ``uns["uge"]`` records the
            arguments and the ``scale`` (``"counts"`` or ``"log1p"``) for
            :func:`uge.tl.pseudobulk`. Also written to ``adata.layers[layer]``: those rows
            on the target's genes; the other species' genes hold 0 and all other rows NaN.
        """
        adata = self.adata if adata is None else adata
        self._validate_anndata(adata)
        args = self.adata_manager.registry["setup_args"]
        ckey, lkey, skey = args["condition_key"], args["labels_key"], args["species_key"]
        control = args["control_condition"]
        if ckey is None:
            raise ValueError(
                "The model was set up without a condition: register one with "
                "UGE.setup_anndata(adata, condition_key=..., control_condition=...)."
            )
        known = [
            str(c) for c in self.adata_manager.get_state_registry(CONDITION_KEY).categorical_mapping
        ]
        if condition == control or condition not in known:
            raise ValueError(
                f"condition={condition!r} is not a treated condition the model was trained "
                f"with; known conditions: {[c for c in known if c != control]} (control: "
                f"{control!r})."
            )
        if method not in ("latent_arithmetic", "condition_token"):
            raise ValueError(
                f"method must be 'latent_arithmetic' or 'condition_token', got {method!r}."
            )
        self._check_species(target_species, "target_species")
        species = adata.obs[skey].astype(str).to_numpy()
        cond = adata.obs[ckey].astype(str).to_numpy()
        lab = adata.obs[lkey].astype(str).to_numpy() if lkey else np.full(adata.n_obs, "all")
        if source_species is None:
            counts = pd.Series(species[cond == condition]).value_counts()
            counts = counts.drop(target_species, errors="ignore")
            if counts.empty:
                raise ValueError(
                    f"No species other than {target_species!r} has {condition!r} samples in "
                    "adata; the shift has to be measured in another species."
                )
            source_species = str(counts.index[0])
        self._check_species(source_species, "source_species")
        if source_species == target_species:
            raise ValueError(
                f"source_species and target_species are both {target_species!r}; the shift "
                "is measured in another species."
            )
        rows = (species == target_species) & (cond == control)
        if labels is not None:
            if lkey is None:
                raise ValueError("`labels` needs a labels_key registered in setup_anndata.")
            labels = [str(v) for v in ([labels] if isinstance(labels, str) else labels)]
            missing = sorted(set(labels) - set(lab[rows]))
            if missing:
                raise ValueError(
                    f"labels {missing} have no {target_species} {control!r} samples in "
                    f"adata.obs[{lkey!r}]; available: {sorted(set(lab[rows]))}."
                )
            rows &= np.isin(lab, labels)
        if not rows.any():
            raise ValueError(f"No {target_species} {control!r} samples in adata to predict.")
        rows = np.flatnonzero(rows)

        target = self.species_.index(target_species)
        if method == "latent_arithmetic":
            src = species == source_species
            z = np.zeros((adata.n_obs, self.module.proj_bias.shape[1]), dtype=np.float32)
            z[src] = self.get_latent_representation(adata, np.flatnonzero(src), batch_size)
            shifts = {}
            for value in np.unique(lab[src]):
                on, off = (
                    src & (lab == value) & (cond == condition),
                    src & (lab == value) & (cond == control),
                )
                if on.any() and off.any():
                    shifts[value] = z[on].mean(0) - z[off].mean(0)
            if not shifts:
                raise ValueError(
                    f"{source_species} has no label with both {condition!r} and {control!r} "
                    "samples; the shift cannot be measured."
                )
            mean_shift = np.mean(list(shifts.values()), axis=0)
            shift_from = np.where(
                np.isin(lab[rows], list(shifts)), "same label", "mean over labels"
            )
            delta = np.stack([shifts.get(v, mean_shift) for v in lab[rows]])
            offset = torch.as_tensor(delta, dtype=torch.float32)

            def decode(tensors: dict, inference: dict, pos: slice) -> torch.Tensor:
                z_new = inference["z"] + offset[pos].to(inference["z"].device)
                return self._decode_into(tensors, inference, z_new, target)

        else:
            shift_from = np.full(len(rows), "condition token")
            code = known.index(condition)

            def decode(tensors: dict, inference: dict, _: slice) -> torch.Tensor:
                inputs = self.module._get_inference_input(tensors)
                inputs["condition"] = torch.full_like(inputs["condition"], code)
                new = self.module.inference(**inputs)
                return self._decode_into(tensors, new, new["z"], target)

        values = self._map_batches(decode, adata, rows, batch_size)

        genes = np.flatnonzero(adata.var[skey].astype(str).to_numpy() == target_species)
        layer = f"uge_{condition}" if layer is None else layer
        full = np.full(adata.shape, np.nan, dtype=np.float32)
        full[rows] = 0.0
        full[np.ix_(rows, genes)] = values[:, genes]
        adata.layers[layer] = full
        obs = adata.obs.iloc[rows].copy()
        obs["uge_shift_from"] = pd.Categorical(shift_from)
        pred = ad.AnnData(
            X=values[:, genes].astype(np.float32), obs=obs, var=adata.var.iloc[genes].copy()
        )
        pred.uns["uge"] = {
            "condition": condition,
            "source_species": source_species,
            "target_species": target_species,
            "method": method,
            "labels_key": lkey or "",
            "layer": layer,
            "scale": "counts" if self.module.likelihood == "nb" else "log1p",
        }
        return pred

    def _decode_into(
        self, tensors: dict, inference: dict, z: torch.Tensor, target: int
    ) -> torch.Tensor:
        """Decode latents into the genes of species ``target`` at the samples' libraries."""
        species = torch.full_like(inference["species"], target)
        batch = self.module._codes(tensors, REGISTRY_KEYS.BATCH_KEY)
        return self.module.generative(z, species, inference["library"], batch=batch)["mean"]

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
        model = cls(adata, **init["non_kwargs"], **init.get("kwargs", {}))
        model.module.load_state_dict(state)
        model.is_trained_ = meta["is_trained"]
        model.history_ = meta["history"]
        _, _, device = parse_device_args(accelerator, "auto", return_device="torch")
        model.to_device(device)
        model.module.eval()
        return model
