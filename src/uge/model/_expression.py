"""Decoded expression of samples, in their own species or another (mixin of :class:`uge.UGE`)."""

from __future__ import annotations

from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd
import torch
from scvi import REGISTRY_KEYS

from uge.core import write_params, write_rows_layer

from ._base import UGEBase


class ExpressionMixin(UGEBase):
    """``get_reconstructed_expression`` (mixin of :class:`uge.UGE`)."""

    def get_reconstructed_expression(
        self,
        adata: ad.AnnData | None = None,
        indices: Sequence[int] | None = None,
        target_species: str | None = None,
        batch_size: int | None = None,
        key_added: str | None = None,
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
        key_added
            Also write the result to ``adata.layers[key_added]`` (e.g.
            ``"uge_reconstruction"``; rows not in ``indices`` hold NaN); ``None`` (default)
            writes nothing.

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
        if key_added is not None:
            write_rows_layer(adata, key_added, rows, np.arange(adata.n_vars), values)
            params = {"target_species": target_species or "", "n_samples": len(rows)}
            write_params(adata, key_added, params)
        return pd.DataFrame(values, index=adata.obs_names[rows], columns=adata.var_names)
