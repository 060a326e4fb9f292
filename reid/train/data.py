"""Training and validation records: read the dataset, hold out identities, check a batch can be formed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from reid.errors import ConfigError, DatasetError, TrainingError
from reid.train.config import TrainConfig
from reid.types import ImageRecord


@dataclass
class TrainData:
    train: list[ImageRecord]
    val: list[ImageRecord]
    skipped_missing: int
    val_source: str  # "held-out ids", "split <name>", or "none"


def load_train_data(cfg: TrainConfig) -> TrainData:
    """Read ``cfg.data`` and split it into training and validation records (deterministic for ``cfg.seed``)."""
    from reid.data.datasets import read_dataset

    d = cfg.data
    if not d.root:
        raise ConfigError("no dataset root given", "pass --data ROOT or --set data.root=PATH")
    try:
        records = read_dataset(d.kind, d.root, d.split, skip_missing=d.skip_missing)
    except DatasetError as exc:
        if exc.hint and "--root" in exc.hint:  # the readers name eval's flag; training's is --data
            exc.hint = exc.hint.replace("--root", "--data (data.root)")
        raise
    skipped = len(getattr(records, "missing", []))
    records = list(records)
    if d.val_split:
        val = list(read_dataset(d.kind, d.root, d.val_split, skip_missing=d.skip_missing))
        return _checked(cfg, TrainData(records, val, skipped, f"split {d.val_split}"))
    ids = sorted({r.label for r in records})
    if d.val_id_list:
        held = set(d.val_id_list)
        unknown = held - set(ids)
        if unknown:
            raise ConfigError(
                f"data.val_id_list names {len(unknown)} identities not in the training data (e.g. {min(unknown)})"
            )
    elif d.val_ids > 0:
        if d.val_ids >= len(ids):
            raise ConfigError(
                f"data.val_ids={d.val_ids} would hold out every one of the {len(ids)} identities",
                "lower data.val_ids (0 turns validation off)",
            )
        order = np.random.default_rng(cfg.seed).permutation(len(ids))
        held = {ids[i] for i in order[: d.val_ids]}
    else:
        held = set()
    train = [r for r in records if r.label not in held]
    val = [r for r in records if r.label in held]
    return _checked(cfg, TrainData(train, val, skipped, "held-out ids" if held else "none"))


def _checked(cfg: TrainConfig, data: TrainData) -> TrainData:
    counts = Counter(r.label for r in data.train)
    p, k = cfg.sampler.p, cfg.sampler.k
    usable = sum(1 for c in counts.values() if c >= k or not cfg.sampler.skip_small)
    if usable < p:
        raise TrainingError(
            f"each batch needs sampler.p={p} identities with enough images, but the training data has only "
            f"{usable} (of {len(counts)} identities, {len(data.train)} images)",
            f"lower sampler.p (e.g. --set sampler.p={max(2, usable)}) or data.val_ids",
        )
    return data
