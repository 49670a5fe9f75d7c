"""Transfer across species: labels (zero-shot annotation) and perturbations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import anndata as ad
import numpy as np
import pandas as pd
import torch

from uge._constants import CONDITION_KEY
from uge.core import (
    knn_vote,
    label_checks,
    label_shifts,
    prediction_table,
    write_params,
    write_predictions,
    write_rows_layer,
)

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
        key_added: str | None = None,
    ) -> pd.DataFrame:
        """Annotate one species' samples with another species' labels (zero-shot).

        ``"knn"``: each target sample gets the majority label of its ``n_neighbors``
        nearest source samples in the latent space (as :func:`uge.tl.transfer_labels`
        does on ``obsm["X_uge"]``). ``"classifier"``: the label classifier trained with
        the model (``classification_weight``, on the labelled samples; ``trained_on`` in
        the parameters says how many of each species). ``"auto"``: the classifier when
        the model has one and ``labels_key`` is the registered key, else kNN. Target
        labels are never read here; compare with them by :func:`uge.tl.annotation_scores`
        and :func:`uge.pl.annotation_accuracy`. The annotation is zero-shot when the
        target species' samples were registered as unlabelled (``unlabeled_category``) or
        the model has no classifier.

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
        key_added
            Also write the predictions to ``adata.obs[key_added]`` (NaN for samples not
            predicted), the confidence to ``adata.obs[f"{key_added}_confidence"]`` and the
            arguments to ``adata.uns["uge"][key_added]["params"]`` (e.g.
            ``"uge_prediction"``, what :func:`uge.pl.annotation_accuracy` reads by
            default); ``None`` (default) writes nothing.

        Returns
        -------
        pandas.DataFrame
            ``prediction`` and ``confidence`` (share of votes, or the classifier's
            probability) for the target samples.
        """
        labels_key, classify = self._label_method(method, labels_key)
        self._check_species(source_species, "source_species")
        self._check_species(target_species, "target_species")
        adata = self.adata if adata is None else adata
        if labels_key not in adata.obs:
            raise KeyError(f"adata.obs[{labels_key!r}] not found (passed as `labels_key`).")
        z = self.get_latent_representation(adata, batch_size=batch_size)
        skey = self._setup_args["species_key"]
        params = {
            "labels_key": labels_key,
            "source_species": source_species,
            "target_species": target_species,
            "species_key": skey,
            "min_confidence": float(min_confidence),
        }
        if classify:
            target = (adata.obs[skey].astype(str) == target_species).to_numpy()
            if not target.any():
                raise ValueError(f"No samples of species {target_species!r} in adata.")
            classes, proba = np.asarray(self.labels_), self._classifier_proba(z[target])
            labelled = self.adata.obs[skey].astype(str).to_numpy()[self._labelled_samples()]
            counts = pd.Series(labelled).value_counts()
            params.update(
                method="classifier", trained_on={str(k): int(v) for k, v in counts.items()}
            )
        else:
            src, target = label_checks(
                adata.obs, skey, labels_key, source_species, target_species, min_confidence
            )
            source_labels = adata.obs[labels_key][src].astype(str).to_numpy()
            classes, proba, k = knn_vote(z[src], source_labels, z[target], n_neighbors)
            params.update(method="knn", n_neighbors=k)
        table = prediction_table(adata.obs_names[target], classes, proba, min_confidence)
        if key_added is not None:
            write_predictions(adata, table, key_added, params)
        return table

    def _label_method(self, method: str, labels_key: str | None) -> tuple[str, bool]:
        """The labels to transfer, and whether the classifier transfers them."""
        if method not in ("auto", "classifier", "knn"):
            raise ValueError(f"method must be 'auto', 'classifier' or 'knn', got {method!r}.")
        registered = self._setup_args["labels_key"]
        has_head = self.module.classifier is not None
        if method == "classifier" and not has_head:
            raise ValueError(
                "This model has no label classifier: register labels with an "
                "unlabeled_category or pass classification_weight > 0 to UGE, or use "
                "method='knn'."
            )
        if method == "classifier" and labels_key not in (None, registered):
            raise ValueError(
                f"The classifier predicts the registered labels ({registered!r}), "
                f"not {labels_key!r}; use method='knn'."
            )
        labels_key = labels_key or registered
        if labels_key is None:
            raise ValueError(
                "No labels: pass `labels_key` (an obs column with the source's labels) or "
                "register one with UGE.setup_anndata(adata, labels_key=...)."
            )
        classify = method == "classifier" or (
            method == "auto" and has_head and labels_key == registered
        )
        return labels_key, classify

    @torch.inference_mode()
    def _classifier_proba(self, z: np.ndarray) -> np.ndarray:
        """The label classifier's probabilities at latents ``z``."""
        self.module.eval()
        device = next(self.module.parameters()).device
        logits = self.module.classifier(torch.as_tensor(z, device=device))
        return logits.softmax(-1).cpu().numpy()

    def predict_perturbation(
        self,
        condition: str,
        target_species: str,
        labels: Sequence[str] | None = None,
        source_species: str | Sequence[str] | None = None,
        method: Literal["latent_arithmetic", "condition_token"] = "latent_arithmetic",
        adata: ad.AnnData | None = None,
        batch_size: int | None = None,
        key_added: str | None = None,
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
        (``uge demo`` reports both). With counts (``likelihood="nb"``) a shift changes the
        decoder's log-rates, which cannot raise far a gene near zero in the target's
        control samples: on real cells (Hagai 2018, ``docs/benchmarks.md``) log-normalised
        input (Gaussian likelihood), trained long, carried a response across species
        much better than counts.

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
            itself. Several species: the mean of their shifts (each species' shift of the
            row's label, or its mean over labels). ``None`` picks the species other than
            the target with most ``condition`` samples, or the target itself when no
            other species has any.
        method
            ``"latent_arithmetic"`` or ``"condition_token"``.
        adata
            AnnData with the model's genes; ``None`` for the training data.
        batch_size
            Minibatch size.
        key_added
            Also write the prediction to ``adata.layers[key_added]`` (e.g.
            ``f"uge_{condition}"``): the predicted rows on the target's genes, 0 on the
            other species' genes, NaN on all other rows; the arguments go to
            ``adata.uns["uge"][key_added]["params"]``. ``None`` (default) writes nothing.

        Returns
        -------
        anndata.AnnData
            Predicted samples × target genes: the target's control samples (``obs`` copied,
            plus ``obs["uge_shift_from"]``: where each row's shift was measured, e.g.
            ``"mouse, same label"`` or ``"rat, mean over labels"``),
            with expected counts at each sample's own library size (counts input) or
            log-normalised values (log-normalised input); ``uns["uge"]`` records the
            arguments and the ``scale`` (``"counts"`` or ``"log1p"``) for
            :func:`uge.tl.pseudobulk`.
        """
        adata = self.adata if adata is None else adata
        self._validate_anndata(adata)
        if method not in ("latent_arithmetic", "condition_token"):
            raise ValueError(
                f"method must be 'latent_arithmetic' or 'condition_token', got {method!r}."
            )
        obs = self._sample_groups(adata, condition)
        self._check_species(target_species, "target_species")
        sources = self._shift_sources(obs, condition, target_species, source_species)
        rows = self._perturbation_rows(obs, target_species, labels)
        decode, shift_from = self._perturbed_decoder(
            method, adata, obs, rows, condition, sources, target_species, batch_size
        )
        values = self._map_batches(decode, adata, rows, batch_size)
        genes = self._gene_positions(target_species)  # adata has the model's genes
        params = {
            "condition": condition,
            "source_species": sources[0] if len(sources) == 1 else sources,
            "target_species": target_species,
            "method": method,
            "labels_key": self._setup_args["labels_key"] or "",
            "scale": "counts" if self.module.likelihood == "nb" else "log1p",
        }
        if key_added is not None:
            write_rows_layer(adata, key_added, rows, genes, values[:, genes])
            write_params(adata, key_added, params)
        pred_obs = adata.obs.iloc[rows].copy()
        pred_obs["uge_shift_from"] = pd.Categorical(shift_from)
        pred = ad.AnnData(
            X=values[:, genes].astype(np.float32), obs=pred_obs, var=adata.var.iloc[genes].copy()
        )
        pred.uns["uge"] = params
        return pred

    def _perturbed_decoder(
        self,
        method: str,
        adata: ad.AnnData,
        obs: pd.DataFrame,
        rows: np.ndarray,
        condition: str,
        sources: list[str],
        target: str,
        batch_size: int | None,
    ) -> tuple[Callable[[dict, dict, slice], torch.Tensor], np.ndarray]:
        """The decoding of :meth:`predict_perturbation`'s ``method`` for the batches of
        ``rows``, and where each row's shift comes from."""
        target = self.species_.index(target)
        if method == "latent_arithmetic":
            offset, shift_from = self._label_offsets(
                adata, obs, rows, condition, sources, batch_size
            )

            def decode(tensors: dict, inference: dict, pos: slice) -> torch.Tensor:
                z_new = inference["z"] + offset[pos].to(inference["z"].device)
                return self._decode_into(tensors, inference, z_new, target)

            return decode, shift_from
        code = self._conditions().index(condition)

        def encode_as_treated(tensors: dict, inference: dict, _: slice) -> torch.Tensor:
            inputs = self.module._get_inference_input(tensors)
            inputs["condition"] = torch.full_like(inputs["condition"], code)
            new = self.module.inference(**inputs)
            return self._decode_into(tensors, new, new["z"], target)

        return encode_as_treated, np.full(len(rows), "condition token")

    def _conditions(self) -> list[str]:
        """The registered conditions, control included."""
        return [
            str(c) for c in self.adata_manager.get_state_registry(CONDITION_KEY).categorical_mapping
        ]

    def _sample_groups(self, adata: ad.AnnData, condition: str) -> pd.DataFrame:
        """Each sample's species, label and condition, after checking that ``condition``
        is a treated condition of the model."""
        args = self._setup_args
        ckey, lkey, skey = args["condition_key"], args["labels_key"], args["species_key"]
        control = args["control_condition"]
        if ckey is None:
            raise ValueError(
                "The model was set up without a condition: register one with "
                "UGE.setup_anndata(adata, condition_key=..., control_condition=...)."
            )
        known = self._conditions()
        if condition == control or condition not in known:
            raise ValueError(
                f"condition={condition!r} is not a treated condition the model was trained "
                f"with; known conditions: {[c for c in known if c != control]} (control: "
                f"{control!r})."
            )
        obs = pd.DataFrame(
            {
                "species": adata.obs[skey].astype(str).to_numpy(),
                "label": adata.obs[lkey].astype(str).to_numpy() if lkey else "all",
                "condition": adata.obs[ckey].astype(str).to_numpy(),
            }
        )
        return obs

    def _shift_sources(
        self,
        obs: pd.DataFrame,
        condition: str,
        target: str,
        source: str | Sequence[str] | None,
    ) -> list[str]:
        """The species whose ``condition`` samples give the shift (checked, or chosen)."""
        if source is None:
            counts = obs["species"][obs["condition"] == condition].value_counts()
            others = counts.drop(target, errors="ignore")
            if not others.empty:
                source = str(others.index[0])
            elif target in counts.index:
                source = target  # within one species, from other labels
            else:
                raise ValueError(
                    f"No species has {condition!r} samples in adata; the shift cannot be measured."
                )
        sources = [source] if isinstance(source, str) else [str(s) for s in source]
        if not sources or len(set(sources)) < len(sources):
            raise ValueError(
                f"source_species must name one species or several different ones, got {source!r}."
            )
        for s in sources:
            self._check_species(s, "source_species")
        return sources

    def _perturbation_rows(
        self, obs: pd.DataFrame, target: str, labels: Sequence[str] | None
    ) -> np.ndarray:
        """The target's control samples to predict (of ``labels`` only, if given)."""
        control, lkey = self._setup_args["control_condition"], self._setup_args["labels_key"]
        lab = obs["label"].to_numpy()
        rows = (obs["species"] == target).to_numpy() & (obs["condition"] == control).to_numpy()
        if labels is not None:
            if lkey is None:
                raise ValueError("`labels` needs a labels_key registered in setup_anndata.")
            labels = [str(v) for v in ([labels] if isinstance(labels, str) else labels)]
            missing = sorted(set(labels) - set(lab[rows]))
            if missing:
                raise ValueError(
                    f"labels {missing} have no {target} {control!r} samples in "
                    f"adata.obs[{lkey!r}]; available: {sorted(set(lab[rows]))}."
                )
            rows &= np.isin(lab, labels)
        if not rows.any():
            raise ValueError(f"No {target} {control!r} samples in adata to predict.")
        return np.flatnonzero(rows)

    def _label_offsets(
        self,
        adata: ad.AnnData,
        obs: pd.DataFrame,
        rows: np.ndarray,
        condition: str,
        sources: list[str],
        batch_size: int | None,
    ) -> tuple[torch.Tensor, np.ndarray]:
        """The latent shift of each row (the mean over ``sources`` of each source's shift
        of the row's label, else of its mean shift), and where it was measured."""
        control = self._setup_args["control_condition"]
        lab, cond = obs["label"].to_numpy(), obs["condition"].to_numpy()
        species = obs["species"].to_numpy()
        used = np.isin(species, sources)
        z = np.zeros((adata.n_obs, self.module.proj_bias.shape[1]), dtype=np.float32)
        z[used] = self.get_latent_representation(adata, np.flatnonzero(used), batch_size)
        deltas, origins = [], []
        for source in sources:
            shifts = label_shifts(z, lab, cond, condition, control, species == source)
            if not shifts:
                raise ValueError(
                    f"{source} has no label with both {condition!r} and {control!r} "
                    "samples; the shift cannot be measured."
                )
            mean_shift = np.mean(list(shifts.values()), axis=0)
            deltas.append(np.stack([shifts.get(v, mean_shift) for v in lab[rows]]))
            same = np.isin(lab[rows], list(shifts))
            origins.append(np.where(same, f"{source}, same label", f"{source}, mean over labels"))
        shift_from = np.array([" + ".join(parts) for parts in zip(*origins, strict=True)])
        delta = np.mean(deltas, axis=0)
        return torch.as_tensor(delta, dtype=torch.float32), shift_from
