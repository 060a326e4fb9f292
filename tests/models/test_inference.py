"""The inference path: crops and image files give the same unit vectors on every backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reid.errors import DatasetError, WeightsError
from reid.models.inference import CropEmbedder, embed_records
from reid.types import ImageRecord


def _crops(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 255, (int(rng.integers(20, 90)), int(rng.integers(20, 90)), 3), dtype=np.uint8)
        for _ in range(n)
    ]


def test_crop_embedder_backends_agree(small_ckpt):
    crops = _crops(7)
    ort = CropEmbedder.from_checkpoint(small_ckpt, device="cpu", batch_size=3)
    eager = CropEmbedder.from_checkpoint(small_ckpt, device="cpu", batch_size=4, backend="torch")
    assert ort.backend == "onnxruntime" and eager.backend == "torch"
    a, b = ort.embed(crops), eager.embed(crops)
    assert a.shape == (7, 64) and a.dtype == np.float32 and ort.dim == 64
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert ort.identity == eager.identity
    assert ort.embed([]).shape == (0, 64)


def test_same_crop_same_vector_and_matches_plain_model(small_ckpt):
    """The optimised path computes what the network computes on the documented preprocessing."""
    import cv2

    from reid.models.checkpoint import model_from_checkpoint

    crop = _crops(1, seed=3)[0]
    emb = CropEmbedder.from_checkpoint(small_ckpt, device="cpu")
    got = emb.embed([crop, crop])
    assert np.allclose(got[0], got[1], atol=1e-6)
    model = model_from_checkpoint(small_ckpt)
    rgb = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_LINEAR)[:, :, ::-1] / 255.0
    x = (rgb - np.array(model.cfg.mean)) / np.array(model.cfg.std)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))).numpy()
    np.testing.assert_allclose(got[0], ref[0], atol=1e-4)


def test_embed_records_matches_crops_and_keeps_order(small_ckpt, tmp_path):
    import cv2

    crops = _crops(5, seed=1)
    records = []
    for i, crop in enumerate(crops):
        path = tmp_path / f"img{i}.png"
        cv2.imwrite(str(path), crop)
        records.append(ImageRecord(str(path), label=i))
    seen = []
    feats = embed_records(
        records,
        small_ckpt,
        device="cpu",
        batch_size=2,
        num_workers=0,
        progress=lambda d, total=None, **k: seen.append((d, total)),
    )
    direct = CropEmbedder.from_checkpoint(small_ckpt, device="cpu").embed(crops)
    np.testing.assert_allclose(feats, direct, atol=1e-5)
    assert seen[-1] == (5, 5)


def test_embed_records_names_a_corrupt_image(small_ckpt, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DatasetError, match="broken.jpg"):
        embed_records([ImageRecord(str(bad), 1)], small_ckpt, device="cpu", num_workers=0)


def test_from_model_with_random_network(small_cfg):
    from reid.models.embedder import build_model

    model = build_model(small_cfg)
    emb = CropEmbedder.from_model(
        model, small_cfg.input_size, small_cfg.mean, small_cfg.std, device="cpu", backend="torch"
    )
    assert emb.embed(_crops(2)).shape == (2, 64)
    assert (
        emb.identity
        != CropEmbedder.from_model(
            build_model(small_cfg), (64, 64), small_cfg.mean, small_cfg.std, device="cpu", backend="torch"
        ).identity
    )


def test_imagenet_offline_names_the_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-hub"))
    with pytest.raises(WeightsError) as info:
        CropEmbedder.from_imagenet("resnet18", device="cpu")
    assert "--reid-weights" in str(info.value)
