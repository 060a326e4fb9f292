"""``reid weights import fastreid``: the imported network is the file's network, every key is accounted for,
and anything else (foreign, unsupported, truncated, tampered) is one clear error. No fast-reid install needed:
the files here are our own networks under fast-reid's key names (tests/models/conftest.py); agreement with
fast-reid itself is tests/models/test_fastreid_parity.py."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from reid.errors import ConfigError, OutputError, WeightsError
from reid.models.checkpoint import load_checkpoint, model_from_checkpoint
from reid.models.fastreid_import import import_fastreid


def _same_embeddings(imported, reference) -> float:
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        return float((imported(x) - reference(x)).abs().max())


PIXEL_MEAN = (120.0, 110.0, 100.0)
PIXEL_STD = (60.0, 55.0, 50.0)


@pytest.fixture(scope="module")
def sbs_import(fastreid_like, tmp_path_factory):
    """One SBS-like file (learned GeM p, non-local blocks, pixel_mean/std buffers) imported once per module."""
    state, reference = fastreid_like()
    state["pixel_mean"] = torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1)
    state["pixel_std"] = torch.tensor(PIXEL_STD).view(1, 3, 1, 1)
    folder = tmp_path_factory.mktemp("sbs")
    torch.save({"model": state, "iteration": 1000}, folder / "veri_sbs.pth")
    (folder / "small.yml").write_text("INPUT:\n  SIZE_TEST: [32, 32]\n")
    result = import_fastreid(folder / "veri_sbs.pth", folder / "model.pt", config=folder / "small.yml")
    return state, reference, result


def test_sbs_file_imports_to_the_same_network(sbs_import) -> None:
    _, reference, result = sbs_import
    cfg = result.model_config
    assert (cfg.arch, cfg.ibn, tuple(cfg.non_local), cfg.non_local_channels) == (
        "fastreid_resnet50",
        True,
        (0, 2, 3, 0),
        1,
    )
    assert cfg.pooling == "gem" and cfg.gem_learn_p and cfg.gem_p == pytest.approx(3.4)
    assert cfg.embedding_dim is None and cfg.bnneck and cfg.interpolation == "bicubic"
    assert tuple(cfg.input_size) == (32, 32) and cfg.last_stride == 1
    ckpt = load_checkpoint(result.out)
    assert ckpt["interpolation"] == "bicubic" and ckpt["meta"]["origin"]["kind"] == "fastreid"
    model = model_from_checkpoint(ckpt)
    assert model.embedding_dim == 2048
    assert _same_embeddings(model, reference) < 1e-6


def test_every_key_is_used_or_listed_as_ignored(sbs_import) -> None:
    state, _, result = sbs_import
    assert result.ignored == {"heads.weight": "classifier over the training identities (not used to embed)"}
    assert result.used + len(result.ignored) == len(state)
    # The normalisation buffers become the checkpoint's preprocessing, on reid's 0-1 scale.
    assert result.model_config.mean == pytest.approx(tuple(v / 255 for v in PIXEL_MEAN))
    assert result.model_config.std == pytest.approx(tuple(v / 255 for v in PIXEL_STD))


def _with_pooling(reference, pool):
    import copy

    other = copy.deepcopy(reference)
    other.pool = pool
    return other.eval()


def test_legacy_classifier_and_dataparallel_prefix(fastreid_like, save_fastreid, tmp_path) -> None:
    from reid.models.pooling import AvgPool

    state, reference = fastreid_like()
    del state["heads.pool_layer.p"]  # average pooling stores nothing
    state["heads.classifier.weight"] = state.pop("heads.weight")
    state = {f"module.{k}": v for k, v in state.items()}
    result = import_fastreid(save_fastreid(state, optimizer={"lr": 0.1}), tmp_path / "m.pt", pooling="avg")
    assert list(result.ignored) == ["heads.classifier.weight"]
    assert result.model_config.pooling == "avg"
    assert (
        _same_embeddings(model_from_checkpoint(tmp_path / "m.pt"), _with_pooling(reference, AvgPool())) < 1e-6
    )


def test_fixed_gem_needs_to_be_named(fastreid_like, save_fastreid, tmp_path) -> None:
    from reid.models.pooling import GeM

    state, reference = fastreid_like()
    learned = save_fastreid(state, "sbs.pth")
    del state["heads.pool_layer.p"]  # fast-reid's GeneralizedMeanPooling: p = 3, not stored
    path = save_fastreid(state)
    with pytest.raises(ConfigError, match="does not say how its network pools.*--pooling gem"):
        import_fastreid(path, tmp_path / "m.pt")
    result = import_fastreid(path, tmp_path / "m.pt", pooling="gem")
    assert result.model_config.pooling == "gem" and not result.model_config.gem_learn_p
    assert tuple(result.model_config.input_size) == (256, 256)  # fast-reid's vehicle models, without a YAML
    fixed = _with_pooling(reference, GeM(3.0, learn_p=False))
    assert _same_embeddings(model_from_checkpoint(tmp_path / "m.pt"), fixed) < 1e-6
    # A learned exponent in the file and --pooling avg contradict each other.
    with pytest.raises(ConfigError, match="learned GeM exponent"):
        import_fastreid(learned, tmp_path / "x.pt", pooling="avg")


def test_fastreid_yaml_with_base_sets_what_keys_cannot(fastreid_like, save_fastreid, tmp_path) -> None:
    state, _ = fastreid_like()
    del state["heads.pool_layer.p"]
    configs = tmp_path / "configs"
    (configs / "VehicleID").mkdir(parents=True)
    (configs / "Base-bagtricks.yml").write_text(
        "MODEL:\n  META_ARCHITECTURE: Baseline\n  BACKBONE:\n    NAME: build_resnet_backbone\n    DEPTH: 50x\n"
        "    LAST_STRIDE: 1\n    WITH_IBN: False\n  HEADS:\n    NAME: EmbeddingHead\n    WITH_BNNECK: True\n"
        "    POOL_LAYER: GlobalAvgPool\nINPUT:\n  SIZE_TEST: [256, 128]\n"
    )
    yml = configs / "VehicleID" / "bagtricks_R50-ibn.yml"
    yml.write_text(
        "_BASE_: ../Base-bagtricks.yml\nINPUT:\n  SIZE_TEST: [128, 128]\nMODEL:\n  BACKBONE:\n    WITH_IBN: True\n"
        "  HEADS:\n    POOL_LAYER: GeneralizedMeanPooling\n"
    )
    result = import_fastreid(save_fastreid(state), tmp_path / "m.pt", config=yml)
    cfg = result.model_config
    assert cfg.pooling == "gem" and not cfg.gem_learn_p and tuple(cfg.input_size) == (128, 128)
    assert any("POOL_LAYER GeneralizedMeanPooling" in note for note in result.notes)
    # A YAML that disagrees with the file is refused rather than believed.
    (configs / "plain.yml").write_text("_BASE_: Base-bagtricks.yml\n")
    with pytest.raises(ConfigError, match="WITH_IBN: False, but the file has IBN-a"):
        import_fastreid(save_fastreid(state, "b.pth"), tmp_path / "n.pt", config=configs / "plain.yml")
    (configs / "lost.yml").write_text("_BASE_: ../elsewhere/Base-SBS.yml\n")
    with pytest.raises(ConfigError, match="names _BASE_"):
        import_fastreid(save_fastreid(state, "c.pth"), tmp_path / "o.pt", config=configs / "lost.yml")


def test_missing_key_is_named(fastreid_like, save_fastreid, tmp_path) -> None:
    state, _ = fastreid_like()
    del state["backbone.layer3.2.bn2.running_var"]
    with pytest.raises(WeightsError, match=r"lacks 1 keys.*backbone\.layer3\.2\.bn2\.running_var"):
        import_fastreid(save_fastreid(state), tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"backbone.layer1.0.se.fc.0.weight": torch.zeros(16, 256)}, r"squeeze-excitation.*layer1\.0\.se"),
        ({"heads.bottleneck.0.weight": torch.zeros(256, 2048, 1, 1)}, r"1x1 reduction.*heads\.bottleneck"),
        ({"b1.0.weight": torch.zeros(3)}, r"outside backbone and heads.*b1\.0\.weight"),
        ({"heads.attention.weight": torch.zeros(3)}, r"head parts.*heads\.attention\.weight"),
        ({"backbone.extra.weight": torch.zeros(3)}, r"no place for.*backbone\.extra\.weight"),
    ],
)
def test_unsupported_architecture_names_the_keys(
    fastreid_like, save_fastreid, tmp_path, extra, match
) -> None:
    state, _ = fastreid_like()
    state.update(extra)
    with pytest.raises(WeightsError, match=match):
        import_fastreid(save_fastreid(state), tmp_path / "m.pt")


def test_other_backbones_are_unsupported_with_keys(save_fastreid, tmp_path) -> None:
    basic = {"backbone.conv1.weight": torch.zeros(64, 3, 7, 7), "backbone.layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3),
             "backbone.layer4.1.conv2.weight": torch.zeros(1), "heads.weight": torch.zeros(1)}  # fmt: skip
    with pytest.raises(
        WeightsError, match=r"basic-block ResNet \(18/34 layers\).*backbone\.layer1\.0\.conv1"
    ):
        import_fastreid(save_fastreid(basic), tmp_path / "m.pt")
    osnet = {"backbone.conv1.conv.weight": torch.zeros(1), "heads.weight": torch.zeros(1)}
    with pytest.raises(WeightsError, match=r"not a ResNet.*backbone\.conv1\.conv\.weight"):
        import_fastreid(save_fastreid(osnet, "o.pth"), tmp_path / "m.pt")


def test_not_a_fastreid_checkpoint(small_ckpt, tmp_path) -> None:
    with pytest.raises(WeightsError, match="already a reid checkpoint"):
        import_fastreid(small_ckpt, tmp_path / "m.pt")
    bare = tmp_path / "bare.pth"
    torch.save({"conv1.weight": torch.zeros(1), "fc.weight": torch.zeros(1)}, bare)
    with pytest.raises(WeightsError, match=r"no 'model' entry \(it holds a dict with keys conv1\.weight"):
        import_fastreid(bare, tmp_path / "m.pt")
    foreign = tmp_path / "foreign.pth"
    torch.save({"model": {"encoder.weight": torch.zeros(1)}}, foreign)
    with pytest.raises(WeightsError, match="no backbone.* and heads.* keys"):
        import_fastreid(foreign, tmp_path / "m.pt")
    text = tmp_path / "notes.pth"
    text.write_text("model weights: see the website\n")
    with pytest.raises(WeightsError, match="not a readable checkpoint"):
        import_fastreid(text, tmp_path / "m.pt")
    with pytest.raises(WeightsError, match="does not exist"):
        import_fastreid(tmp_path / "absent.pth", tmp_path / "m.pt")


def test_truncated_file_is_refused(fastreid_like, save_fastreid, tmp_path) -> None:
    state, _ = fastreid_like()
    path = save_fastreid(state)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="not a readable checkpoint"):
        import_fastreid(path, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch /tmp/reid-pwned-by-fastreid-import",))


def test_pickle_with_code_is_refused_never_run(tmp_path) -> None:
    marker = "/tmp/reid-pwned-by-fastreid-import"
    if os.path.exists(marker):
        os.unlink(marker)
    evil = tmp_path / "evil.pth"
    torch.save({"model": {"backbone.conv1.weight": torch.zeros(1)}, "extra": _Payload()}, evil)
    with pytest.raises(WeightsError, match="refuses to execute"):
        import_fastreid(evil, tmp_path / "m.pt")
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Payload()))
    with pytest.raises(WeightsError):
        import_fastreid(raw, tmp_path / "m.pt")
    assert not os.path.exists(marker)


def test_output_is_never_a_file_reid_did_not_write(fastreid_like, save_fastreid, tmp_path) -> None:
    state, _ = fastreid_like()
    path = save_fastreid(state)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(OutputError, match="already exists"):
        import_fastreid(path, notes)
    with pytest.raises(OutputError, match="not a reid checkpoint; it is not replaced"):
        import_fastreid(path, notes, overwrite=True)
    assert notes.read_text() == "mine"
    with pytest.raises(OutputError, match="is the input file"):
        import_fastreid(path, path, overwrite=True)
    import_fastreid(path, tmp_path / "m.pt")
    import_fastreid(path, tmp_path / "m.pt", overwrite=True)  # replacing our own checkpoint is fine


@pytest.mark.slow
def test_imported_network_exports_to_onnx_and_runs_everywhere(sbs_import, tmp_path) -> None:
    import cv2
    import numpy as np
    from PIL import Image

    from reid.models.export import export_onnx
    from reid.models.inference import CropEmbedder

    _, _, result = sbs_import
    info = export_onnx(result.out, tmp_path / "m.onnx", dynamic_batch=True)
    assert info["dim"] == 2048 and info["max_abs_diff"] < 1e-4
    rng = np.random.default_rng(0)
    crops = [
        rng.integers(0, 255, (int(rng.integers(20, 60)), int(rng.integers(20, 60)), 3), dtype=np.uint8)
        for _ in range(5)
    ]
    torch_path = CropEmbedder.from_checkpoint(result.out, device="cpu", backend="torch")
    ort_path = CropEmbedder.from_checkpoint(result.out, device="cpu", backend="onnxruntime")
    assert torch_path.interpolation == "bicubic" and ort_path.backend == "onnxruntime"
    a, b = torch_path.embed(crops), ort_path.embed(crops)
    assert a.shape == (5, 2048) and float(np.abs(a - b).max()) < 1e-4
    # The crops were resized with PIL's bicubic filter, as fast-reid's test transform does.
    rgb = np.asarray(Image.fromarray(crops[0][:, :, ::-1].copy()).resize((32, 32), Image.BICUBIC))
    assert np.array_equal(torch_path.preprocess(crops[:1])[0].numpy(), rgb)
    assert not np.array_equal(rgb, cv2.resize(crops[0], (32, 32))[:, :, ::-1])
