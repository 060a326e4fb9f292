"""Learning rate as a pure function of the iteration: warm-up, then cosine or step decay.

Being a function of the step (not an object with hidden state) makes ``--resume`` exact: the step counter is
the whole scheduler state.
"""

from __future__ import annotations

import math

from reid.train.config import ScheduleConfig


def lr_factor(step: int, cfg: ScheduleConfig, steps_per_epoch: int, total_steps: int) -> float:
    """Multiplier of the base learning rate at iteration ``step`` (0-based)."""
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if cfg.name == "constant":
        return 1.0
    if cfg.name == "step":
        epoch = step // max(1, steps_per_epoch)
        return cfg.gamma ** sum(1 for m in cfg.milestones if epoch >= m)
    span = max(1, total_steps - warmup)
    progress = min(1.0, max(0.0, (step - warmup) / span))
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
