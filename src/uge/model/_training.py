"""The Lightning training plan of UGE: scvi-tools' plan, with metrics that survive DDP."""

from __future__ import annotations

import torch
from scvi.module.base import LossOutput
from scvi.train import TrainingPlan

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
