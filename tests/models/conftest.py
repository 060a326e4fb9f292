"""Small random networks and checkpoints shared by the model tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep exported inference graphs out of the user's home during tests."""
    monkeypatch.setenv("REID_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "reid-cache"))


@pytest.fixture(scope="session")
def small_cfg():
    from reid.models.config import ModelConfig

    return ModelConfig(arch="resnet18", pretrained="none", input_size=(64, 64), embedding_dim=64)


@pytest.fixture(scope="session")
def small_ckpt(tmp_path_factory, small_cfg):
    """A saved checkpoint of a random resnet18 with 64x64 input."""
    import torch

    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.embedder import build_model

    torch.manual_seed(0)
    model = build_model(small_cfg).eval()
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    save_checkpoint(path, make_checkpoint(model, small_cfg, meta={"epoch": 3}))
    return path

