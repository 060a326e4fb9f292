"""DataLoader workers (decoding for embedding and validation, augmentation for training) are tied to the
process that built the loader: each one calls ``reid.procs.die_with_parent`` first, then any chained init."""

from __future__ import annotations

import multiprocessing
import os

import cv2
import numpy as np
import pytest

import reid.procs
from reid.data.dataset import worker_init_fn
from reid.types import ImageRecord

needs_fork = pytest.mark.skipif(
    multiprocessing.get_start_method(allow_none=False) != "fork",
    reason="the workers see the patched function only when forked",
)


@pytest.fixture()
def marks(tmp_path, monkeypatch):
    """A folder where every call of ``die_with_parent`` (in any process) leaves ``<pid>`` = its argument."""
    folder = tmp_path / "marks"
    folder.mkdir()

    def record(parent_pid=None):
        (folder / str(os.getpid())).write_text(str(parent_pid))

    monkeypatch.setattr(reid.procs, "die_with_parent", record)
    return folder


def _records(tmp_path, n=6) -> list[ImageRecord]:
    out = []
    for i in range(n):
        path = tmp_path / f"{i}.png"
        cv2.imwrite(str(path), np.full((20, 20, 3), 10 * i, np.uint8))
        out.append(ImageRecord(path=str(path), label=i % 2))
    return out


@needs_fork
def test_embedding_and_validation_loader_workers_die_with_this_process(tmp_path, marks):
    from reid.models.inference import records_loader

    batches = list(records_loader(_records(tmp_path), (16, 16), batch_size=1, num_workers=2))
    assert len(batches) == 6
    calls = {p.name: p.read_text() for p in marks.iterdir()}
    assert len(calls) == 2 and str(os.getpid()) not in calls
    assert set(calls.values()) == {str(os.getpid())}


@needs_fork
def test_training_loader_workers_die_with_this_process(tiny_vehicleid, tmp_path, marks):
    from reid.train import distributed
    from reid.train.loop import Callbacks, Trainer

    from .conftest import tiny_config

    trainer = Trainer(
        tiny_config(tiny_vehicleid, **{"data.num_workers": 2, "data.val_ids": 0}),
        tmp_path / "run",
        distributed.DistInfo(),
        Callbacks(),
    )
    trainer.set_up(resume=False, overwrite=False)
    if trainer.workers < 2:
        pytest.skip("one CPU core: a single worker")
    next(iter(trainer._loader()))
    calls = [p.read_text() for p in marks.iterdir()]
    assert len(calls) == 2 and set(calls) == {str(os.getpid())}


def test_worker_init_fn_chains_the_existing_init_after_die_with_parent(marks):
    order = []
    init = worker_init_fn(lambda worker_id: order.append(("chained", worker_id, len(list(marks.iterdir())))))
    init(3)
    assert order == [("chained", 3, 1)]  # die_with_parent ran first, then the chained init with the worker id
    assert (marks / str(os.getpid())).read_text() == str(os.getpid())
