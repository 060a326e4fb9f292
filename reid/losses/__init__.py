"""Losses for the embedding network: the PNP loss and the baselines it is compared with.

``LOSSES`` maps a training config's ``loss.name`` to a builder and ``build_loss(LossConfig)`` calls it; every
built module takes ``(embeddings (B, D), labels (B,))`` and returns a scalar. ``PNPLoss`` and ``SmoothAPLoss``
are imported on first use (PEP 562) so that ``from reid.losses import LossConfig`` does not import torch.
"""

from __future__ import annotations

from typing import Any

from reid.losses.config import LossConfig
from reid.losses.registry import LOSSES, build_loss
from reid.losses.variants import PAPER_NAMES, VARIANTS, canonical_variant

__all__ = [
    "LOSSES",
    "PAPER_NAMES",
    "VARIANTS",
    "LossConfig",
    "PNPLoss",
    "SmoothAPLoss",
    "build_loss",
    "canonical_variant",
    "pnp_loss",
]


def __getattr__(name: str) -> Any:
    if name in ("PNPLoss", "pnp_loss"):
        from reid.losses import pnp

        return getattr(pnp, name)
    if name == "SmoothAPLoss":
        from reid.losses.smooth_ap import SmoothAPLoss

        return SmoothAPLoss
    raise AttributeError(f"module 'reid.losses' has no attribute {name!r}")
