"""A tiny synthetic VehicleID set and a tiny training config shared by the training tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("REID_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "reid-cache"))


@pytest.fixture(scope="session")
def tiny_vehicleid(tmp_path_factory):
    from reid.synth.vehicleid import write_vehicleid

    root = tmp_path_factory.mktemp("vehicleid") / "VehicleID"
    write_vehicleid(root, num_train_ids=12, num_test_ids=2, images_per_id=(3, 4), size=(48, 48), seed=1)
    return root


def tiny_config(root, **extra):
    """resnet18 at 32x32, 4 identities x 2 images, 2 batches per epoch: seconds per epoch on a CPU."""
    from reid.config import apply_overrides
    from reid.train.config import TrainConfig

    base = {
        "model": {"arch": "resnet18", "pretrained": "none", "input_size": [32, 32], "embedding_dim": 32},
        "data": {"root": str(root), "val_ids": 4, "num_workers": 0},
        "sampler": {"p": 4, "k": 2, "batches_per_epoch": 2},
        "optim": {"lr": 1e-3},
        "epochs": 2,
        "val_batch_size": 16,
    }
    return TrainConfig.model_validate(apply_overrides(base, [f"{k}={v}" for k, v in extra.items()]))
