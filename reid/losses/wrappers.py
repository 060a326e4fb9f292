"""Adapt a pytorch-metric-learning loss (and miner) to the project's ``(embeddings, labels) -> scalar``."""

from __future__ import annotations

from typing import Any

import torch


class MetricLearningLoss(torch.nn.Module):
    """Run ``miner`` (if any) then ``loss`` in float32 or float64, with autocast off.

    Computing in full precision matters: these losses compare similarities that differ in the third decimal,
    which bfloat16 cannot represent, and ``exp(50 * s)`` in multi-similarity overflows float16.
    """

    def __init__(self, loss: Any, miner: Any = None) -> None:
        super().__init__()
        self.loss = loss
        self.miner = miner

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if embeddings.dtype not in (torch.float32, torch.float64):
            embeddings = embeddings.float()
        labels = labels.to(embeddings.device)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            indices = self.miner(embeddings, labels) if self.miner is not None else None
            return self.loss(embeddings, labels, indices)
