"""Training UGE: the default length and clipping, sparse minibatches, and the training plan."""

from __future__ import annotations

import numpy as np
import torch
from scvi.dataloaders import DataSplitter
from scvi.module.base import LossOutput
from scvi.train import TrainingPlan

# Lightning's gradient clipping (total norm) by default: without it, training on tiny data
# (Brawand, 4 species, 250 epochs at lr 1e-2) diverged after about 200 epochs, the latents
# growing to norm ~60 and every species' organs falling to chance
GRADIENT_CLIP = 1.0

# Adam's learning rate and epsilon. The reconstruction is a mean over a species' genes, so
# each per-gene parameter (gene embedding, baseline, dispersion) gets a gradient of order
# 1 / n_genes; scvi-tools' default eps=0.01 then dominates Adam's denominator and those
# parameters barely move. On Kang (CD4T held out, 30 epochs) only both changes together
# worked: the held-out type's control mean was reconstructed with R² 0.994 (0.680-0.684
# with either one alone or neither) and the prediction rose from 0.707 to 0.963; on
# `uge demo` the median R² went from 0.961 to 0.965 (benchmarks/bench_ablation.py)
OPTIMIZER = {"lr": 1e-3, "eps": 1e-8}


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


# scvi-tools' method, without its ``torch.inference_mode`` decorator
_LOG_METRICS = TrainingPlan.compute_and_log_metrics.__wrapped__


class UGETrainingPlan(TrainingPlan):
    """:class:`scvi.train.TrainingPlan` that logs its metrics under ``no_grad``.

    scvi-tools logs metrics under ``torch.inference_mode``, so the running sums that
    Lightning keeps for the 0-d extra metrics (``gene_alignment``, ``latent_alignment``)
    become inference tensors; with ``sync_dist`` (any DDP strategy) Lightning reduces them
    in place at the end of the epoch, outside inference mode, which fails ("Inplace update
    to inference tensor outside InferenceMode"). Logging under ``no_grad`` keeps them
    ordinary tensors.
    """

    def compute_and_log_metrics(self, loss_output: LossOutput, metrics: dict, mode: str) -> None:
        """Log the losses and extra metrics (scvi-tools' method, outside inference mode)."""
        with torch.no_grad():
            _LOG_METRICS(self, loss_output, metrics, mode)
