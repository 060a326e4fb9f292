"""One explicit dict from ``loss.name`` to a builder; every built module is ``(embeddings, labels) -> scalar``.

The baselines come from pytorch-metric-learning (with their miners where the method defines one), except
Smooth-AP, whose library version is wrong for batches with P != K (see :mod:`reid.losses.smooth_ap`). Torch and
the library are imported inside the builders so that importing this module (and validating a config) is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reid.errors import ConfigError
from reid.losses.config import LossConfig

if TYPE_CHECKING:
    import torch


def _wrap(loss: Any, miner: Any = None) -> torch.nn.Module:
    from reid.losses.wrappers import MetricLearningLoss

    return MetricLearningLoss(loss, miner)


def build_pnp(cfg: LossConfig) -> torch.nn.Module:
    """PNP (the default): ``variant``, ``alpha``, ``anneal``, ``b``."""
    from reid.losses.pnp import PNPLoss

    return PNPLoss(variant=cfg.variant, alpha=cfg.alpha, anneal=cfg.anneal, b=cfg.b)


def build_smoothap(cfg: LossConfig) -> torch.nn.Module:
    """Smooth-AP with temperature ``anneal``."""
    from reid.losses.smooth_ap import SmoothAPLoss

    return SmoothAPLoss(temperature=cfg.anneal)


def build_fastap(cfg: LossConfig) -> torch.nn.Module:
    """FastAP on squared L2 distances of normalised embeddings, ``num_bins`` histogram bins."""
    from pytorch_metric_learning.losses import FastAPLoss

    return _wrap(FastAPLoss(num_bins=cfg.num_bins))


def build_triplet(cfg: LossConfig) -> torch.nn.Module:
    """Triplet margin loss on the batch-hard triplets (hardest positive and negative of each anchor)."""
    from pytorch_metric_learning.losses import TripletMarginLoss
    from pytorch_metric_learning.miners import BatchHardMiner

    return _wrap(TripletMarginLoss(margin=cfg.margin), BatchHardMiner())


def build_multisimilarity(cfg: LossConfig) -> torch.nn.Module:
    """Multi-similarity loss with its pair miner (``ms_alpha``, ``ms_beta``, ``ms_base``, ``ms_epsilon``)."""
    from pytorch_metric_learning.losses import MultiSimilarityLoss
    from pytorch_metric_learning.miners import MultiSimilarityMiner

    return _wrap(
        MultiSimilarityLoss(alpha=cfg.ms_alpha, beta=cfg.ms_beta, base=cfg.ms_base),
        MultiSimilarityMiner(epsilon=cfg.ms_epsilon),
    )


def build_contrastive(cfg: LossConfig) -> torch.nn.Module:
    """Contrastive loss over all pairs of the batch (``pos_margin``, ``neg_margin`` on L2 distances)."""
    from pytorch_metric_learning.losses import ContrastiveLoss

    return _wrap(ContrastiveLoss(pos_margin=cfg.pos_margin, neg_margin=cfg.neg_margin))


LOSSES: dict[str, Callable[[LossConfig], torch.nn.Module]] = {
    "pnp": build_pnp,
    "smoothap": build_smoothap,
    "fastap": build_fastap,
    "triplet": build_triplet,
    "multisimilarity": build_multisimilarity,
    "contrastive": build_contrastive,
}


def build_loss(cfg: LossConfig) -> torch.nn.Module:
    """Build the loss named by ``cfg.name``; a bad hyper-parameter is a :class:`ConfigError` naming the key."""
    builder = LOSSES.get(cfg.name)
    if builder is None:
        raise ConfigError(f"unknown loss.name {cfg.name!r}", f"valid names: {', '.join(LOSSES)}")
    try:
        return builder(cfg)
    except ValueError as exc:
        raise ConfigError(f"loss config: {exc}", "fix the loss.* value") from exc
