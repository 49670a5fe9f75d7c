"""The model's reactome: decoded responses to every condition in every label."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from uge._constants import SEP
from uge.core import measured_reactome, suggest_experiments

from ._base import UGEBase


class ReactomeMixin(UGEBase):
    """Reactome prediction from the latent space (mixin of :class:`uge.UGE`)."""

    def predict_reactome(
        self,
        species: str,
        genes: Sequence[str] | None = None,
        labels: Sequence[str] | None = None,
        conditions: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Predict each gene's response to every condition in every label, measured or not.

        For every requested ``(label, condition)`` the mean control latent of the label
        (the species' own control samples of the label where it has them, else all
        species') is moved by the condition's latent shift (condition minus control
        latent means within the label, averaged over the species that measured it; for
        a combination no species measured, the mean shift of the condition over the
        labels that measured it) and both points are decoded into ``species``' genes. A
        gene's entry is its change in decoded log-rate: a log fold change in the units of
        :func:`uge.tl.reactome`. For a reactome table without samples (e.g. published
        signatures) use :func:`uge.tl.predict_reactome`.

        Parameters
        ----------
        species
            Species whose genes are predicted.
        genes
            Genes (``var_names`` or the species' own names in ``var["gene"]``); ``None``
            for all of the species.
        labels, conditions
            Combinations to predict (every label with every condition); ``None`` for all
            seen in training.

        Returns
        -------
        pandas.DataFrame
            Genes × ``"label|condition"`` columns; ``attrs["shift_from"]`` says per column
            whether its shift was ``"measured"`` (in some species) or the ``"mean over
            other labels"``.
        """
        self._check_species(species, "species")
        columns, before, after, source = self._reactome_points(labels, conditions, species)
        index = self._genes_of(species, genes)
        cols = self.adata.var_names.get_indexer(index)
        change = self._decoded(after)[:, cols] - self._decoded(before)[:, cols]
        out = pd.DataFrame(change.T, index=index, columns=columns)
        out.attrs["shift_from"] = dict(zip(columns, source, strict=True))
        return out

    def suggest_experiments(
        self,
        species: str,
        n: int = 5,
        labels: Sequence[str] | None = None,
        conditions: Sequence[str] | None = None,
        **kwargs,
    ) -> pd.DataFrame:
        """Rank the (label, condition) combinations ``species`` has not measured.

        The species' reactome is measured from the model's training data
        (:func:`uge.tl.reactome` of its labelled samples, the registered labels and
        conditions) and the unmeasured combinations are ranked by
        :func:`uge.tl.suggest_experiments`: by the cross-validated error of predicting them
        instead of measuring them (``expected_error``), ties broken by the disagreement of
        the fits. ``measured_in`` lists the other species that measured a combination: for
        those, :meth:`predict_reactome` transfers the measured latent shift, for the others
        it can only average the condition's shift over other labels. On the simulator this
        order has not yet beaten measuring in random order (``docs/model.md``).

        Parameters
        ----------
        species
            Species that would run the experiments.
        n
            Combinations returned.
        labels, conditions
            Candidates (every label with every condition); ``None`` for all registered.
        **kwargs
            ``rank``, ``n_models``, ``holdout`` and ``seed`` of
            :func:`uge.tl.suggest_experiments`.

        Returns
        -------
        pandas.DataFrame
            ``label``, ``condition``, ``expected_error``, ``disagreement``,
            ``predicted_size``, ``rank`` (1 = measure first) and ``measured_in``.
        """
        self._check_species(species, "species")
        args = self._setup_args
        if not args["condition_key"]:
            raise ValueError(
                "Experiments are (label, condition) combinations: register condition_key and "
                "control_condition in UGE.setup_anndata."
            )
        table, _ = measured_reactome(self.adata, args)
        gene_species = self.adata.var[args["species_key"]].astype(str).to_numpy()
        own = table[gene_species == species]
        out = suggest_experiments(own, n=n, labels=labels, conditions=conditions, **kwargs)
        measured_by = {
            c: sorted(
                s
                for s in self.species_
                if s != species and table.loc[gene_species == s, c].notna().any()
            )
            for c in table.columns
        }
        out["measured_in"] = [
            ", ".join(measured_by.get(f"{a}{SEP}{c}", []))
            for a, c in zip(out["label"], out["condition"], strict=True)
        ]
        return out
