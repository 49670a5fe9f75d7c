"""Registering multi-species data with the model (mixin of :class:`uge.UGE`)."""

from __future__ import annotations

import logging

import anndata as ad
from scvi import REGISTRY_KEYS
from scvi.data import AnnDataManager
from scvi.data.fields import CategoricalObsField, LabelsWithUnlabeledObsField, LayerField

from uge._constants import CONDITION_KEY, SPECIES_KEY
from uge.core import validate_setup
from uge.pp import concat_species

from ._base import UGEBase

logger = logging.getLogger(__name__)


class SetupMixin(UGEBase):
    """``setup_anndata`` and ``setup_mudata`` (mixin of :class:`uge.UGE`)."""

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
