"""Transfer across species: labels (zero-shot annotation) and perturbations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import torch

from uge._constants import CONDITION_KEY
from uge.core import knn_vote, label_checks, store_predictions

from ._base import UGEBase


class TransferMixin(UGEBase):
    """Predictions carried from one species to another (mixin of :class:`uge.UGE`)."""

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
        method: Literal["auto", "classifier", "knn"] = "auto",
    ) -> pd.DataFrame:
        """Annotate one species' samples with another species' labels (zero-shot).

        Computes the latents into ``adata.obsm["X_uge"]``. ``"knn"``: each target sample
        gets the majority label of its ``n_neighbors`` nearest source samples there
        (:func:`uge.tl.transfer_labels`). ``"classifier"``: the label classifier trained
        with the model (``classification_weight``; on the labelled samples, see
        ``uns["uge"]["label_transfer"]["uge"]["trained_on"]`` for how many of each
        species). ``"auto"``: the classifier when the model has one and ``labels_key`` is
        the registered key, else kNN. Target labels are never read here; compare with them
        by :func:`uge.tl.annotation_scores` and :func:`uge.pl.annotation_accuracy`. The
        annotation is zero-shot when the target species' samples were registered as
        unlabelled (``unlabeled_category``) or the model has no classifier.

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
        method
            ``"auto"``, ``"classifier"`` or ``"knn"``.

        Returns
        -------
        pandas.DataFrame
            ``prediction`` and ``confidence`` (share of votes) for the target samples, also
            written to ``adata.obs["uge_prediction"]`` and ``adata.obs["uge_confidence"]``
            (NaN for other samples); the arguments go to
            ``adata.uns["uge"]["label_transfer"]["uge"]``.
        """
        if method not in ("auto", "classifier", "knn"):
            raise ValueError(f"method must be 'auto', 'classifier' or 'knn', got {method!r}.")
        args = self._setup_args
        has_head = self.module.classifier is not None
        if method == "classifier" and not has_head:
            raise ValueError(
                "This model has no label classifier: register labels with an "
                "unlabeled_category or pass classification_weight > 0 to UGE, or use "
                "method='knn'."
            )
        if method == "classifier" and labels_key not in (None, args["labels_key"]):
            raise ValueError(
                f"The classifier predicts the registered labels ({args['labels_key']!r}), "
                f"not {labels_key!r}; use method='knn'."
            )
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
        z = self.get_latent_representation(adata, batch_size=batch_size)
        adata.obsm["X_uge"] = z
        if method == "classifier" or (
            method == "auto" and has_head and labels_key == args["labels_key"]
        ):
            skey = args["species_key"]
            target = (adata.obs[skey].astype(str) == target_species).to_numpy()
            if not target.any():
                raise ValueError(f"No samples of species {target_species!r} in adata.")
            self.module.eval()
            with torch.inference_mode():
                device = next(self.module.parameters()).device
                logits = self.module.classifier(torch.as_tensor(z[target], device=device))
                proba = logits.softmax(-1).cpu().numpy()
            labelled = self._labelled_samples()
            trained_on = pd.Series(self.adata.obs[skey].astype(str).to_numpy()[labelled])
            params = {
                "method": "classifier",
                "labels_key": labels_key,
                "source_species": source_species,
                "target_species": target_species,
                "species_key": skey,
                "use_rep": "X_uge",
                "trained_on": {str(k): int(v) for k, v in trained_on.value_counts().items()},
            }
            return store_predictions(
                adata, target, np.asarray(self.labels_), proba, min_confidence, "uge", params
            )
        src, tgt = label_checks(
            adata.obs,
            args["species_key"],
            labels_key,
            source_species,
            target_species,
            min_confidence,
        )
        source_labels = adata.obs[labels_key][src].astype(str).to_numpy()
        classes, proba, k = knn_vote(z[src], source_labels, z[tgt], n_neighbors)
        params = {
            "method": "knn",
            "labels_key": labels_key,
            "source_species": source_species,
            "target_species": target_species,
            "species_key": args["species_key"],
            "use_rep": "X_uge",
            "n_neighbors": k,
        }
        return store_predictions(adata, tgt, classes, proba, min_confidence, "uge", params)

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
        genes. The source may be the target species itself (as scGen does): a label never
        measured under ``condition`` then gets the mean shift of the species' other
        labels. ``"condition_token"``: each target control sample is encoded again with
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
            Species whose ``condition`` samples give the shift; may be ``target_species``
            itself. ``None`` picks the species other than the target with most
            ``condition`` samples, or the target itself when no other species has any.
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
            plus ``obs["uge_shift_from"]``: where each row's shift was measured, e.g.
            ``"mouse, same label"`` or ``"rat, mean over labels"``),
            with expected counts at each sample's own library size (counts input) or
            log-normalised values (log-normalised input); ``uns["uge"]`` records the
            arguments and the ``scale`` (``"counts"`` or ``"log1p"``) for
            :func:`uge.tl.pseudobulk`. Also written to ``adata.layers[layer]``: those rows
            on the target's genes; the other species' genes hold 0 and all other rows NaN.
        """
        adata = self.adata if adata is None else adata
        self._validate_anndata(adata)
        args = self._setup_args
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
            others = counts.drop(target_species, errors="ignore")
            if not others.empty:
                source_species = str(others.index[0])
            elif target_species in counts.index:
                source_species = target_species  # within one species, from other labels
            else:
                raise ValueError(
                    f"No species has {condition!r} samples in adata; the shift cannot be measured."
                )
        self._check_species(source_species, "source_species")
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
                np.isin(lab[rows], list(shifts)),
                f"{source_species}, same label",
                f"{source_species}, mean over labels",
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
