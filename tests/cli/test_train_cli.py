"""The train, embed and export commands: outputs a user relies on, and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "reid_cli.main", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=full_env,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    import torch

    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model

    torch.manual_seed(0)
    cfg = ModelConfig(arch="resnet18", pretrained="none", input_size=(32, 32), embedding_dim=16)
    path = tmp_path_factory.mktemp("weights") / "best.pt"
    save_checkpoint(path, make_checkpoint(build_model(cfg), cfg))
    return path


def test_train_errors_are_one_line(tmp_path):
    missing = run_cli(
        "train", "--set", "data.root=" + str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")
    )
    assert_one_line_error(missing, "nowhere")
    bad_key = run_cli("train", "--set", "sampler.pp=3", "--out", str(tmp_path / "run"))
    assert_one_line_error(bad_key, "sampler.pp")


def test_embed_folder_and_refuse_foreign_weights(tmp_path, checkpoint):
    import cv2

    from reid.data.features import load_features

    folder = tmp_path / "crops"
    rng = np.random.default_rng(0)
    for ident in (3, 7):
        (folder / str(ident)).mkdir(parents=True)
        for j in range(2):
            cv2.imwrite(
                str(folder / str(ident) / f"{j}.png"), rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
            )
    env = {"REID_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "feats.npz"
    result = run_cli(
        "embed", str(folder), "--weights", str(checkpoint), "--out", str(out), "--workers", "0", env=env
    )
    assert result.returncode == 0, result.stderr
    fs = load_features(out)
    assert fs.features.shape == (4, 16) and sorted(set(fs.labels.tolist())) == [3, 7]
    np.testing.assert_allclose(np.linalg.norm(fs.features, axis=1), 1.0, atol=1e-5)
    assert len(fs.meta["identity"]) == 16

    again = run_cli("embed", str(folder), "--weights", str(checkpoint), "--out", str(out), env=env)
    assert_one_line_error(again, "already exists")
    foreign = tmp_path / "foreign.pt"
    foreign.write_bytes(b"\x80\x04not a checkpoint")
    refused = run_cli(
        "embed", str(folder), "--weights", str(foreign), "--out", str(tmp_path / "x.npz"), env=env
    )
    assert_one_line_error(refused, "foreign.pt")


def test_export_onnx_matches_torch(tmp_path, checkpoint):
    out = tmp_path / "model.onnx"
    result = run_cli("export", "onnx", "--weights", str(checkpoint), "--out", str(out), "--dynamic-batch")
    assert result.returncode == 0, result.stderr
    assert "largest difference" in result.stdout
    import onnxruntime as ort

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    emb = session.run(None, {"images": np.zeros((3, 3, 32, 32), np.float32)})[0]
    assert emb.shape == (3, 16)
    missing = run_cli(
        "export", "onnx", "--weights", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")
    )
    assert_one_line_error(missing, "does not exist", "--weights")


@pytest.mark.slow
def test_train_command_end_to_end_then_resume(tmp_path):
    from reid.models.checkpoint import load_checkpoint
    from reid.synth.vehicleid import write_vehicleid

    root = write_vehicleid(
        tmp_path / "VehicleID", num_train_ids=10, num_test_ids=2, images_per_id=(3, 4), size=(40, 40)
    )
    out = tmp_path / "run"
    sets = [
        "model.arch=resnet18",
        "model.pretrained=none",
        "model.input_size=[32,32]",
        "model.embedding_dim=16",
        "sampler.p=4",
        "sampler.k=2",
        "sampler.batches_per_epoch=2",
        "data.val_ids=3",
        "data.num_workers=0",
    ]
    args = ["train", "--data", str(root), "--out", str(out), "--epochs", "1"]
    for s in sets:
        args += ["--set", s]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "best epoch 1" in result.stdout and (out / "best.pt").is_file()
    again = run_cli("train", "--out", str(out), "--resume", "--epochs", "2")
    assert again.returncode == 0, again.stderr
    assert load_checkpoint(out / "last.pt")["train_state"]["epoch"] == 2
    refused = run_cli(*args)
    assert_one_line_error(refused, "--resume")
