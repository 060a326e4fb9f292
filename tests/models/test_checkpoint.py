"""Checkpoints rebuild the same network, and anything else is refused without running it."""

from __future__ import annotations

import pickle

import pytest
import torch

from reid.errors import WeightsError
from reid.models.checkpoint import (
    FORMAT_VERSION,
    checkpoint_identity,
    load_checkpoint,
    make_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)


def test_roundtrip_rebuilds_identical_network(small_ckpt, small_cfg):
    ckpt = load_checkpoint(small_ckpt)
    assert ckpt["format_version"] == FORMAT_VERSION
    assert ckpt["input_size"] == [64, 64] and ckpt["meta"]["epoch"] == 3
    model = model_from_checkpoint(small_ckpt)
    again = model_from_checkpoint(ckpt)
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(model(x), again(x))
    assert model.cfg == small_cfg.model_copy(update={})


def test_identity_is_stable_and_sensitive(small_ckpt, tmp_path):
    ckpt = load_checkpoint(small_ckpt)
    ident = checkpoint_identity(small_ckpt)
    assert ident == checkpoint_identity(ckpt) and len(ident) == 16
    # Re-saving with other metadata keeps the identity: it is about the network, not the file.
    ckpt2 = dict(ckpt, meta={"note": "copied"})
    save_checkpoint(tmp_path / "copy.pt", ckpt2)
    assert checkpoint_identity(tmp_path / "copy.pt") == ident
    # One changed weight changes it.
    state = {k: v.clone() for k, v in ckpt["state_dict"].items()}
    state["fc.bias"][0] += 1e-3
    assert checkpoint_identity(dict(ckpt, state_dict=state)) != ident
    # So does the config (same weights, other preprocessing would give other vectors).
    cfg = dict(ckpt["model_config"], mean=[0.5, 0.5, 0.5])
    assert checkpoint_identity(dict(ckpt, model_config=cfg)) != ident


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/reid-pwned-by-checkpoint",))


def test_tampered_pickle_is_refused_not_executed(tmp_path):
    marker = "/tmp/reid-pwned-by-checkpoint"
    import os

    if os.path.exists(marker):
        os.unlink(marker)
    path = tmp_path / "evil.pt"
    torch.save({"format": "reid-embedder", "format_version": 1, "payload": _Boom()}, path)
    with pytest.raises(WeightsError, match="safe load refuses to create or call \\(posix.system\\)"):
        load_checkpoint(path)
    assert not os.path.exists(marker)


def test_foreign_files_are_clear_errors(tmp_path, small_cfg, yolo_checkpoints):
    from reid.models.embedder import build_model

    bare = tmp_path / "bare.pt"
    torch.save(build_model(small_cfg).state_dict(), bare)
    with pytest.raises(WeightsError, match="not a reid embedder checkpoint"):
        load_checkpoint(bare)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="is not a PyTorch file"):
        load_checkpoint(junk)
    with pytest.raises(WeightsError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(WeightsError, match="is a bare pickle"):
        load_checkpoint(plain)
    with pytest.raises(WeightsError, match="is an Ultralytics detector checkpoint, not a reid embedder"):
        load_checkpoint(yolo_checkpoints["saved"], flag="--reid-weights")


def test_truncated_and_corrupt_checkpoints_say_so(small_ckpt, tmp_path):
    import zipfile

    data = small_ckpt.read_bytes()
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match="is empty"):
        load_checkpoint(tmp_path / "empty.pt")
    for size in (len(data) // 2, len(data) - 10, 100):
        (tmp_path / "cut.pt").write_bytes(data[:size])
        with pytest.raises(WeightsError, match="is damaged: a truncated or corrupt zip archive"):
            load_checkpoint(tmp_path / "cut.pt")
    with zipfile.ZipFile(small_ckpt) as src, zipfile.ZipFile(tmp_path / "record.pt", "w") as dst:
        dropped = [n for n in src.namelist() if "/data/" in n][0]
        for info in src.infolist():
            if info.filename != dropped:
                dst.writestr(info, src.read(info.filename))
    with pytest.raises(WeightsError, match="is damaged: tensor data record"):
        load_checkpoint(tmp_path / "record.pt")


def test_unknown_version_and_mismatched_weights(tmp_path, small_cfg):
    from reid.models.embedder import build_model

    model = build_model(small_cfg)
    ckpt = make_checkpoint(model, small_cfg)
    save_checkpoint(tmp_path / "v99.pt", dict(ckpt, format_version=99))
    with pytest.raises(WeightsError, match="format version 99"):
        load_checkpoint(tmp_path / "v99.pt")
    wrong = dict(ckpt, model_config=dict(ckpt["model_config"], embedding_dim=32))
    with pytest.raises(WeightsError, match="do not fit"):
        model_from_checkpoint(wrong)
