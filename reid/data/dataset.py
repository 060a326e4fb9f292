"""A torch Dataset over :class:`reid.types.ImageRecord` lists, safe to use in DataLoader workers.

A worker that raises sends the exception to the main process wrapped in a multi-line traceback text; to keep
user errors one line, a broken image is reported as a flag in the sample and turned into a
:class:`DatasetError` that names the file by :func:`check_batch` in the main process.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from reid.data.transforms import read_image_bgr
from reid.errors import DatasetError
from reid.types import ImageRecord


class ImageDataset(Dataset):
    """Samples ``(image uint8 (H, W, 3), label index, record index, ok)`` for ``records``.

    ``label_map`` maps dataset ids to contiguous indices (built from the records when not given), since
    dataset ids are sparse and the loss only needs equality.
    """

    def __init__(
        self,
        records: Sequence[ImageRecord],
        transform: Callable,
        input_size: Sequence[int],
        label_map: dict[int, int] | None = None,
    ) -> None:
        self.records = list(records)
        self.transform = transform
        self.input_size = (int(input_size[0]), int(input_size[1]))
        if label_map is None:
            label_map = {label: i for i, label in enumerate(sorted({r.label for r in self.records}))}
        self.label_map = label_map
        self.labels = [label_map.get(r.label, -1) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int, bool]:
        image = read_image_bgr(self.records[index].path)
        if image is None:
            blank = torch.zeros((*self.input_size, 3), dtype=torch.uint8)
            return blank, self.labels[index], index, False
        return self.transform(image), self.labels[index], index, True


def collate(
    samples: list[tuple[torch.Tensor, int, int, bool]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack samples into ``(images (B, H, W, 3) uint8, labels (B,), indices (B,), ok (B,) bool)``."""
    images = torch.stack([s[0] for s in samples])
    labels = torch.tensor([s[1] for s in samples], dtype=torch.int64)
    indices = torch.tensor([s[2] for s in samples], dtype=torch.int64)
    ok = torch.tensor([s[3] for s in samples], dtype=torch.bool)
    return images, labels, indices, ok


def check_batch(ok: torch.Tensor, indices: torch.Tensor, records: Sequence[ImageRecord]) -> None:
    """Raise a one-line :class:`DatasetError` naming the first unreadable image of a batch."""
    if bool(ok.all()):
        return
    bad = records[int(indices[~ok][0])].path
    reason = "is missing" if not Path(bad).exists() else "is corrupt or not an image"
    raise DatasetError(f"image {bad} {reason}", "fix or remove it from the list, or pass --skip-missing")


def filter_missing(records: Sequence[ImageRecord], skip_missing: bool) -> tuple[list[ImageRecord], int]:
    """Check every listed image exists (a cheap ``stat``) before hours of work start.

    Returns the records that exist and how many were skipped; without ``skip_missing`` a missing image is a
    :class:`DatasetError` naming it and the count.
    """
    kept: list[ImageRecord] = []
    missing: list[str] = []
    for rec in records:
        if Path(rec.path).is_file():
            kept.append(rec)
        else:
            missing.append(rec.path)
    if missing and not skip_missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DatasetError(
            f"listed image {missing[0]} is missing{more}", "restore it, or pass --skip-missing to skip"
        )
    return kept, len(missing)


def worker_init_fn(chained: Callable[[int], None] | None = None) -> Callable[[int], None]:
    """A DataLoader ``worker_init_fn`` that ties each worker's life to this process, then calls ``chained``.

    A worker that outlives a killed main process keeps decoding into a queue nobody reads (and holds its
    memory); :func:`reid.procs.die_with_parent` ends it as soon as this process is gone. The pid is taken
    here, in the process that builds the loader, so a parent that dies before the worker starts is noticed
    too. The result is a ``functools.partial`` of a module function: it pickles for any start method.
    """
    return functools.partial(_init_worker, os.getpid(), chained)


def _init_worker(parent_pid: int, chained: Callable[[int], None] | None, worker_id: int) -> None:
    from reid import procs

    procs.die_with_parent(parent_pid)
    if chained is not None:
        chained(worker_id)
