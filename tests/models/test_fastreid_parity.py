"""Imported fast-reid networks embed like fast-reid itself: max abs difference 1e-5 (float32, CPU, eval mode).

The reference is the ``fastreid`` package from PyPI (1.4.0). It pins torch 1.13, so it is installed without
its dependencies (``pip install --no-deps fastreid==1.4.0`` plus the ``parity`` extra, which ``.ci/run`` does)
and only its modelling code is imported. Without it these tests skip, unless ``REID_REQUIRE_FASTREID=1``
(set in CI), where a missing reference is a failure.

Each test builds a randomly initialised fast-reid network, gives every BatchNorm, IBN, GeM exponent and
non-local block non-trivial values, saves it as fast-reid does (``{"model": state_dict}``), imports it with
``reid weights import fastreid`` and feeds both the same images.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

TOLERANCE = 1e-5


def _fastreid():
    try:
        from fastreid.config import get_cfg
        from fastreid.modeling.meta_arch import build_model
    except Exception as exc:  # ImportError, or a module of the old package failing on this torch
        if os.environ.get("REID_REQUIRE_FASTREID", "") not in ("", "0"):
            raise
        pytest.skip(
            f"fast-reid reference not importable ({type(exc).__name__}: {exc}); "
            "pip install --no-deps fastreid==1.4.0 && pip install -e '.[parity]'"
        )
    return get_cfg, build_model


def _reference(randomize_, depth: str = "50x", ibn: bool = True, nl: bool = False, pool: str = "GeneralizedMeanPooling",
               size: int = 64, yaml: Path | None = None, pixel: tuple | None = None):  # fmt: skip
    """A random fast-reid Baseline (eval mode) and its config."""
    get_cfg, build_model = _fastreid()
    cfg = get_cfg()
    if yaml is not None:
        cfg.merge_from_file(str(yaml))
    else:
        cfg.MODEL.BACKBONE.DEPTH = depth
        cfg.MODEL.BACKBONE.WITH_IBN = ibn
        cfg.MODEL.BACKBONE.WITH_NL = nl
        cfg.MODEL.HEADS.WITH_BNNECK = True
        cfg.MODEL.HEADS.POOL_LAYER = pool
        cfg.INPUT.SIZE_TEST = [size, size]
    if pixel is not None:
        cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = list(pixel[0]), list(pixel[1])
    cfg.MODEL.BACKBONE.PRETRAIN = False
    cfg.MODEL.HEADS.NUM_CLASSES = 7
    cfg.MODEL.DEVICE = "cpu"
    torch.manual_seed(0)
    model = build_model(cfg)

    def run_bn(x):  # Baseline.forward needs labels in training mode; BatchNorm statistics need only these
        model.heads.bottleneck(model.heads.pool_layer(model.backbone(x)))

    randomize_(model, gem_p=3.7, forward=run_bn, size=int(cfg.INPUT.SIZE_TEST[0]))
    return model.eval(), cfg


def _import(model, tmp_path: Path, **kwargs):
    from reid.models.checkpoint import model_from_checkpoint
    from reid.models.fastreid_import import import_fastreid

    state = {k: v for k, v in model.state_dict().items()}
    torch.save({"model": state}, tmp_path / "fastreid.pth")
    result = import_fastreid(tmp_path / "fastreid.pth", tmp_path / "model.pt", **kwargs)
    assert result.used + len(result.ignored) == len(state)
    return model_from_checkpoint(result.out), result


def _max_diff(reference, ours, size: int, n: int = 3) -> float:
    """Both networks on the same RGB images: fast-reid normalises inside, reid in its preprocessing module."""
    from reid.models.export import WithPreprocessing

    images = torch.randint(
        0, 256, (n, size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    with torch.inference_mode():
        # fast-reid takes float (B, 3, H, W) on the 0-255 scale, and normalises it in place.
        expected = F.normalize(reference(images.permute(0, 3, 1, 2).float().contiguous()), dim=1)
        got = WithPreprocessing(ours, ours.cfg.mean, ours.cfg.std).eval()(images)
    assert expected.shape == got.shape == (n, 2048)
    # The images must embed differently, or agreement would say little.
    assert float((expected[0] - expected[1]).abs().max()) > 1e-2
    return float((expected - got).abs().max())


def test_bot_r50_ibn_matches_fastreid(tmp_path, randomize) -> None:
    """fast-reid's VehicleID / VERI-Wild BoT: IBN-a, fixed-exponent GeM (nothing stored), BNNeck."""
    reference, _ = _reference(randomize, ibn=True, pool="GeneralizedMeanPooling")
    ours, result = _import(reference, tmp_path, pooling="gem")
    assert result.model_config.ibn and not result.model_config.gem_learn_p
    assert _max_diff(reference, ours, 64) <= TOLERANCE


def test_sbs_r50_ibn_nonlocal_gem_matches_fastreid(tmp_path, randomize) -> None:
    """fast-reid's VeRi SBS: IBN-a, non-local blocks (1-channel, as fast-reid builds them), learned GeM p."""
    pixel = ((110.0, 120.0, 100.0), (50.0, 60.0, 55.0))
    reference, _ = _reference(randomize, ibn=True, nl=True, pool="GeneralizedMeanPoolingP", pixel=pixel)
    assert float(reference.heads.pool_layer.p.detach()) == pytest.approx(3.7)
    ours, result = _import(reference, tmp_path)
    cfg = result.model_config
    assert tuple(cfg.non_local) == (0, 2, 3, 0) and cfg.non_local_channels == 1 and cfg.gem_learn_p
    # fast-reid 1.4 does not save pixel_mean/pixel_std; the YAML (here: the defaults) gives them. Check the
    # importer reads the file's buffers when a file has them (older fast-reid saved them).
    assert cfg.mean == pytest.approx((0.485, 0.456, 0.406))
    state = dict(reference.state_dict(), pixel_mean=reference.pixel_mean, pixel_std=reference.pixel_std)
    torch.save({"model": state}, tmp_path / "with_buffers.pth")
    from reid.models.checkpoint import model_from_checkpoint
    from reid.models.fastreid_import import import_fastreid

    buffered = import_fastreid(tmp_path / "with_buffers.pth", tmp_path / "b.pt")
    assert buffered.model_config.mean == pytest.approx(tuple(v / 255 for v in pixel[0]))
    assert _max_diff(reference, model_from_checkpoint(buffered.out), 64) <= TOLERANCE


def test_plain_r50_matches_fastreid(tmp_path, randomize) -> None:
    """fast-reid's person BoT layout: plain ResNet-50 (ceil-mode stem pooling), average pooling, BNNeck."""
    reference, _ = _reference(randomize, ibn=False, pool="GlobalAvgPool")
    ours, result = _import(reference, tmp_path, pooling="avg")
    assert not result.model_config.ibn and result.model_config.pooling == "avg"
    assert _max_diff(reference, ours, 64) <= TOLERANCE


@pytest.mark.slow
def test_r101_ibn_nonlocal_matches_fastreid(tmp_path, randomize) -> None:
    reference, _ = _reference(randomize, depth="101x", ibn=True, nl=True, pool="GeneralizedMeanPoolingP")
    ours, result = _import(reference, tmp_path)
    assert result.model_config.arch == "fastreid_resnet101" and tuple(result.model_config.non_local) == (
        0,
        2,
        9,
        0,
    )
    assert _max_diff(reference, ours, 64) <= TOLERANCE


BASE = """MODEL:
  META_ARCHITECTURE: Baseline
  BACKBONE:
    NAME: build_resnet_backbone
    NORM: BN
    DEPTH: 50x
    LAST_STRIDE: 1
    FEAT_DIM: 2048
    WITH_IBN: False
  HEADS:
    NAME: EmbeddingHead
    NORM: BN
    WITH_BNNECK: True
    POOL_LAYER: GlobalAvgPool
    NECK_FEAT: before
    CLS_LAYER: Linear
INPUT:
  SIZE_TEST: [ 256, 128 ]
"""
VEHICLEID = """_BASE_: ../Base-bagtricks.yml
INPUT:
  SIZE_TRAIN: [64, 64]
  SIZE_TEST: [64, 64]
MODEL:
  BACKBONE:
    WITH_IBN: True
  HEADS:
    POOL_LAYER: GeneralizedMeanPooling
"""


def _fastreid_data_modules():
    """fast-reid's test transform and image reader without ``fastreid.data/__init__`` (it needs torch 1.x)."""
    import fastreid

    if "fastreid.data" not in sys.modules:
        package = types.ModuleType("fastreid.data")
        package.__path__ = [str(Path(fastreid.__file__).parent / "data")]
        sys.modules["fastreid.data"] = package
    from fastreid.data.data_utils import read_image
    from fastreid.data.transforms import build_transforms

    return read_image, build_transforms


def test_image_files_embed_like_fastreid_pipeline(tmp_path, randomize) -> None:
    """From image files to vectors: fast-reid's YAML (with _BASE_), reader and test transform vs reid's path."""
    import cv2

    from reid.models.inference import CropEmbedder, embed_records
    from reid.types import ImageRecord

    (tmp_path / "configs" / "VehicleID").mkdir(parents=True)
    (tmp_path / "configs" / "Base-bagtricks.yml").write_text(BASE)
    yaml = tmp_path / "configs" / "VehicleID" / "bagtricks_R50-ibn.yml"
    yaml.write_text(VEHICLEID)
    reference, cfg = _reference(randomize, yaml=yaml)
    assert cfg.MODEL.HEADS.POOL_LAYER == "GeneralizedMeanPooling" and cfg.MODEL.BACKBONE.WITH_IBN
    _, result = _import(reference, tmp_path, config=yaml)
    assert tuple(result.model_config.input_size) == (64, 64)

    rng = np.random.default_rng(0)
    records = []
    for i in range(4):  # PNG: both readers decode the same pixels (JPEG decoders may differ by one level)
        h, w = int(rng.integers(40, 120)), int(rng.integers(40, 120))
        path = tmp_path / f"car{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        records.append(ImageRecord(path=str(path), label=i))
    read_image, build_transforms = _fastreid_data_modules()
    transform = build_transforms(cfg, is_train=False)
    batch = torch.stack([transform(read_image(r.path)) for r in records])  # float 0-255 (B, 3, H, W)
    with torch.inference_mode():
        expected = F.normalize(reference(batch.clone()), dim=1).numpy()
    # reid's preprocessing gives the very same pixels: OpenCV decode, PIL bicubic resize, RGB.
    from reid.data.transforms import EvalTransform, read_image_bgr
    from reid.models.checkpoint import model_from_checkpoint
    from reid.models.export import WithPreprocessing

    ours_batch = torch.stack([EvalTransform((64, 64), "bicubic")(read_image_bgr(r.path)) for r in records])
    assert torch.equal(ours_batch.permute(0, 3, 1, 2).float(), batch)
    model = model_from_checkpoint(result.out)
    with torch.inference_mode():
        got = WithPreprocessing(model, model.cfg.mean, model.cfg.std)(ours_batch).numpy()
    assert float(np.abs(expected - got).max()) <= TOLERANCE
    # What reid runs for a user: the PyTorch path (channels_last kernels) and the onnxruntime CPU path agree
    # with fast-reid up to float32 kernel differences, which a random 50-layer network amplifies.
    for backend in ("torch", "onnxruntime"):
        embedder = CropEmbedder.from_checkpoint(result.out, device="cpu", backend=backend)
        assert embedder.interpolation == "bicubic"
        vectors = embed_records(records, embedder, num_workers=0)
        assert float(np.abs(expected - vectors).max()) <= 1e-4, backend
