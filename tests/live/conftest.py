"""A tiny synthetic scene and a small random network shared by the live tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def live_scene(tmp_path_factory) -> Path:
    from reid.synth.scene import write_scene

    root = tmp_path_factory.mktemp("live-scene")
    write_scene(root / "scene", cameras=2, vehicles=4, seconds=6.0, fps=8.0, size=(256, 144), seed=5)
    return root / "scene"


@pytest.fixture(scope="session")
def random_ckpt(tmp_path_factory) -> Path:
    import torch

    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model

    torch.manual_seed(0)
    cfg = ModelConfig(arch="resnet18", pretrained="none", embedding_dim=32, input_size=(64, 64))
    return save_checkpoint(tmp_path_factory.mktemp("live-ckpt") / "random.pt",
                           make_checkpoint(build_model(cfg).eval(), cfg))


@pytest.fixture(scope="session")
def embedder(random_ckpt: Path, tmp_path_factory):
    import os

    os.environ.setdefault("REID_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "reid-cache"))
    from reid.models.inference import CropEmbedder

    return CropEmbedder.from_checkpoint(random_ckpt, device="cpu")
