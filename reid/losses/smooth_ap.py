"""Smooth-AP (Brown et al., ECCV 2020) for any label counts, in ``O(B^2 K)`` like the PNP loss.

pytorch-metric-learning 2.9's ``SmoothAPLoss`` reshapes the batch as ``(B // P, P)`` where it means
``(P, K)`` (it divides the batch size by the number of labels and uses the result as the number of labels), so
it is only right when a batch holds as many identities as images per identity (``P == K``); on a perfectly
separated batch of 2 identities x 4 images it returns 0.4 instead of 0. It also refuses batches with uneven
label counts. A baseline that is wrong for the batches we train with is not a fair comparison, so this is a
direct implementation of the original definition, checked against the library where the library is right.

For an anchor ``i`` and each positive ``j`` (the anchor itself included, as in the original code)::

    rank_all(i, j) = 1 + sum_{k != j}        sigmoid((s_ik - s_ij) / temperature)
    rank_pos(i, j) = 1 + sum_{k != j, k ~ i} sigmoid((s_ik - s_ij) / temperature)
    AP_i = mean_j rank_pos(i, j) / rank_all(i, j),      loss = mean_i (1 - AP_i)

Anchors whose label occurs once in the batch have no positive to rank and are left out (a batch without any
repeated label gives 0 with zero gradients).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def smooth_ap_loss(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float = 0.01) -> torch.Tensor:
    """Mean ``1 - AP`` over the anchors that have a positive; cosine similarities; computed in float32/64."""
    if embeddings.dim() != 2 or labels.dim() != 1 or labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"expected embeddings (B, D) and labels (B,), got {tuple(embeddings.shape)} and {tuple(labels.shape)}"
        )
    if embeddings.dtype not in (torch.float32, torch.float64):
        embeddings = embeddings.float()
    labels = labels.to(embeddings.device)
    with torch.autocast(device_type=embeddings.device.type, enabled=False):
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        counts = same.sum(dim=1)
        valid = counts > 1
        if not bool(valid.any()):
            return torch.sum(embeddings * 0)
        anchors, positives = torch.nonzero(same & valid.unsqueeze(1), as_tuple=True)
        normed = F.normalize(embeddings, p=2, dim=1)
        sim = normed @ normed.t()
        rows = sim.index_select(0, anchors)  # (M, B)
        sig = torch.sigmoid((rows - rows.gather(1, positives.unsqueeze(1))) / temperature)
        not_self = torch.ones_like(sig, dtype=torch.bool).scatter_(1, positives.unsqueeze(1), False)
        sig = sig * not_self
        rank_all = 1 + sig.sum(dim=1)
        rank_pos = 1 + (sig * same.index_select(0, anchors)).sum(dim=1)
        per_anchor = torch.zeros(embeddings.shape[0], dtype=sim.dtype, device=sim.device)
        per_anchor = per_anchor.index_add(0, anchors, rank_pos / rank_all)
        ap = per_anchor[valid] / counts[valid].to(sim.dtype)
        return (1 - ap).mean()


class SmoothAPLoss(torch.nn.Module):
    """``SmoothAPLoss(temperature=0.01)(embeddings, labels) -> scalar``; see the module docstring."""

    def __init__(self, temperature: float = 0.01) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return smooth_ap_loss(embeddings, labels, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
