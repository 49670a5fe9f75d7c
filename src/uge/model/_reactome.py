"""The model's reactome: decoded responses to every condition in every label."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from uge.tl._reactome import SEP

from ._alignment import measured_reactome


class ReactomeMixin:
    """Reactome prediction from the latent space (mixin of :class:`uge.UGE`)."""

    def _reactome_points(
        self,
        labels: Sequence[str] | None = None,
        conditions: Sequence[str] | None = None,
        species: str | None = None,
        measured_only: bool = False,
    ) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
        """Latent points before and after each ``(label, condition)`` and where the shift is from.

        Before: the mean control latent of the label (of ``species`` when it has control
        samples of the label, else of all species). Shift: the mean over species that
        measured the condition in the label of condition minus control latent means;
        where none did, the mean of that shift over the other labels that measured it.
        ``measured_only`` keeps only combinations measured in some species.
        """
        args = self.adata_manager.registry["setup_args"]
        if not args["condition_key"]:
            raise ValueError(
                "A reactome needs conditions: register condition_key (and control_condition, "
                "and labels_key for one column per label) in UGE.setup_anndata."
            )
        z, meta = self._training_latents()
        control = args["control_condition"]
        lab, cond, sp = (meta[k].to_numpy() for k in ("label", "condition", "species"))
        known_labels = sorted(set(lab) - {str(self.unlabeled_category_)})
        known_conditions = sorted(set(cond) - {control})
        for name, asked, known in (
            ("labels", labels, known_labels),
            ("conditions", conditions, known_conditions),
        ):
            unknown = [a for a in asked or [] if a not in known]
            if unknown:
                raise ValueError(f"{name} {unknown} were not in training; known: {known}.")
        shifts: dict[tuple[str, str], np.ndarray] = {}
        for a in known_labels:
            for c in known_conditions:
                per_species = []
                for s in np.unique(sp):
                    on = (lab == a) & (cond == c) & (sp == s)
                    off = (lab == a) & (cond == control) & (sp == s)
                    if on.any() and off.any():
                        per_species.append(z[on].mean(0) - z[off].mean(0))
                if per_species:
                    shifts[(a, c)] = np.mean(per_species, axis=0)
        labels = list(dict.fromkeys(labels)) if labels else known_labels
        conditions = list(dict.fromkeys(conditions)) if conditions else known_conditions
        columns, before, after, source = [], [], [], []
        for a in labels:
            ctrl = (lab == a) & (cond == control)
            own = ctrl & (sp == species) if species is not None else ctrl
            base_rows = own if own.any() else ctrl
            if not base_rows.any():
                continue
            base = z[base_rows].mean(0)
            for c in conditions:
                if (a, c) in shifts:
                    shift, how = shifts[(a, c)], "measured"
                elif measured_only:
                    continue
                else:
                    other = [v for (b, d), v in shifts.items() if d == c]
                    if not other:
                        continue
                    shift, how = np.mean(other, axis=0), "mean over other labels"
                columns.append(f"{a}{SEP}{c}")
                before.append(base)
                after.append(base + shift)
                source.append(how)
        if not columns:
            raise ValueError(
                "No (label, condition) combination has control samples of the label and a "
                "measured shift of the condition: nothing to decode."
            )
        return columns, np.stack(before), np.stack(after), source

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
        index = self._species_var(species, genes)
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
        from uge.tl._completion import suggest_experiments  # uge.tl imports uge.model

        self._check_species(species, "species")
        args = self.adata_manager.registry["setup_args"]
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

    def _species_var(self, species: str, genes: Sequence[str] | None) -> pd.Index:
        """``var_names`` of ``species``' genes, from var_names or the species' own names."""
        var = self.adata.var
        skey = self.adata_manager.registry["setup_args"]["species_key"]
        own = var.index[(var[skey].astype(str) == species).to_numpy()]
        if genes is None:
            return own
        genes = [genes] if isinstance(genes, str) else list(genes)
        names = var.loc[own, "gene"].astype(str) if "gene" in var else pd.Series(own, own)
        by_name = pd.Series(names.index, index=names.to_numpy())
        by_name = by_name[~by_name.index.duplicated()]
        picked = [g if g in own else by_name.get(g) for g in genes]
        missing = [g for g, p in zip(genes, picked, strict=True) if p is None]
        if missing:
            raise KeyError(
                f"{len(missing)} genes are not {species} genes of the model, e.g. "
                f"{missing[:5]}; pass var_names or names of var['gene']."
            )
        return pd.Index(picked)
