"""UGE: the user-facing model (scvi-tools style), built from its capability mixins."""

from __future__ import annotations

import logging
from typing import Literal

import anndata as ad
import pandas as pd
from scvi.model.base import UnsupervisedTrainingMixin

from uge.core import GeneAlignment, check_positive_int
from uge.module import UGEModule

from ._base import UGEBase
from ._build import ModelInputs, from_registry
from ._expression import ExpressionMixin
from ._genes import GenesMixin
from ._inputs import check_params
from ._insilico import InSilicoMixin
from ._io import SaveLoadMixin
from ._query import QueryMixin
from ._reactome import ReactomeMixin
from ._setup import SetupMixin
from ._training import (
    GRADIENT_CLIP,
    OPTIMIZER,
    SparseDataSplitter,
    UGETrainingPlan,
    default_max_epochs,
)
from ._transfer import TransferMixin

logger = logging.getLogger(__name__)


class UGE(
    QueryMixin,
    TransferMixin,
    ReactomeMixin,
    GenesMixin,
    InSilicoMixin,
    ExpressionMixin,
    SetupMixin,
    SaveLoadMixin,
    UnsupervisedTrainingMixin,
    UGEBase,
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
    token_ranking
        How a sample picks its ``max_tokens`` tokens among more token genes:
        ``"expression"`` (its most expressed) or ``"relative"`` (its genes most above their
        usual level: log-normalised value minus the gene's mean over its standard
        deviation, as Geneformer ranks genes). The same when a species has no more token
        genes than ``max_tokens``.
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
        token_ranking: Literal["expression", "relative"] = "expression",
        gene_align_weight: float = 10.0,
        latent_align_weight: float = 0.1,
        gene_alignment: GeneAlignment = "both",
        min_similarity: float = 0.6,
        classification_weight: float | None = None,
        *,
        _inputs: ModelInputs | None = None,
    ) -> None:
        if adata is None:
            raise ValueError("UGE needs the AnnData registered with UGE.setup_anndata.")
        hyper = {
            "d_model": d_model,
            "n_layers": n_layers,
            "n_heads": n_heads,
            "n_latent": n_latent,
            "n_hidden": n_hidden,
            "dropout": dropout,
            "max_tokens": max_tokens,
            "token_ranking": token_ranking,
            "gene_align_weight": gene_align_weight,
            "latent_align_weight": latent_align_weight,
        }
        check_params(**hyper, min_similarity=min_similarity)
        super().__init__(adata)
        inputs = _inputs or from_registry(
            self.adata_manager, orthologs, likelihood, max_tokens, gene_alignment, min_similarity
        )
        self.species_ = inputs.species
        self.prior_pairs_, self.gene_alignment_ = inputs.prior, inputs.alignment
        self.labels_, self.unlabeled_category_ = self._registered_labels()
        self.module = self._module_cls(
            **inputs.module_kwargs(),
            n_conditions=self._n_conditions(),
            n_batch=self.summary_stats.n_batch,
            **hyper,
            n_labels=len(self.labels_),
            classification_weight=self._classification_weight(classification_weight),
        )
        if inputs.level is not None:
            self._start_query(inputs)
        self._model_summary_string = self._summary(inputs, hyper)
        init = self._get_init_params(locals())
        init["non_kwargs"].pop("_inputs", None)
        init["non_kwargs"]["likelihood"] = inputs.likelihood  # "auto" resolved
        if orthologs is not None:
            init["non_kwargs"]["orthologs"] = pd.DataFrame(orthologs).to_dict(orient="list")
        self.init_params_ = init

    def _classification_weight(self, weight: float | None) -> float:
        """The label classifier's weight: by default 1 with an ``unlabeled_category``."""
        if weight is None:
            return 1.0 if self.unlabeled_category_ is not None else 0.0
        if weight > 0 and len(self.labels_) < 2:
            raise ValueError(
                f"classification_weight={weight} trains a label classifier, which needs at "
                "least two labels registered with UGE.setup_anndata(adata, labels_key=...)."
            )
        return weight

    def _summary(self, inputs: ModelInputs, hyper: dict) -> str:
        """The model's one-paragraph description (``print(model)``)."""
        if inputs.level is not None:
            new = int((inputs.level == inputs.level.max()).sum()) if inputs.level.max() else 0
            return (
                f"UGE query model: species {self.species_}, {self.adata.n_vars} genes ({new} "
                f"new), likelihood {inputs.likelihood!r}; only the new genes', species' and "
                "batches' parameters train."
            )
        a, h = self.gene_alignment_, hyper
        return (
            f"UGE: species {self.species_}, {self.adata.n_vars} genes, likelihood "
            f"{inputs.likelihood!r}, d_model={h['d_model']}, n_layers={h['n_layers']}, "
            f"n_heads={h['n_heads']}, n_latent={h['n_latent']}, "
            f"max_tokens={self.module.max_tokens}, "
            f"{len(inputs.pairs)} aligned gene pairs ({a['mode']}: {len(self.prior_pairs_)} "
            f"ortholog pairs, {a['overridden']} overridden and {a['added']} added by reactome "
            "similarity)."
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
            Keyword arguments of :class:`scvi.train.TrainingPlan`. Adam's ``lr`` defaults to
            1e-3 and its ``eps`` to 1e-8 (scvi-tools' 0.01 froze the per-gene parameters,
            whose gradients are small: the reconstruction averages over genes; on real
            cells the decoder then could not reproduce its own input; see
            ``docs/model.md``).
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
            plan_kwargs={**OPTIMIZER, **self._query_plan, **(plan_kwargs or {})},
            deterministic=deterministic,
            **kwargs,
        )

    # ----------------------------------------------------------------- outputs

    # --------------------------------------------------------------- save/load
