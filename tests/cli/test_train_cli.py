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
    from reid.data.features import load_features

    folder = _identity_folder(tmp_path / "crops")
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


def test_from_scratch_with_the_paper_loss_values_names_the_scratch_recipe(tmp_path, reid_main):
    nowhere = str(tmp_path / "nowhere")
    code, out, err = reid_main(
        "train", "--set", "model.pretrained=none", "--data", nowhere, "--out", str(tmp_path / "a")
    )
    assert code == 2 and "nowhere" in err  # the data is missing; the warning came first
    warning = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "configs/scratch_pnp.yaml" in warning[0] and "alpha 4" in warning[0], out

    from reid.config import configs_dir

    recipe = str(configs_dir() / "scratch_pnp.yaml")
    code, out, err = reid_main("train", "--config", recipe, "--data", nowhere, "--out", str(tmp_path / "b"))
    assert code == 2 and "scratch_pnp.yaml" not in out
    code, out, err = reid_main(
        "train", "--config", recipe, "--set", "loss.alpha=4", "--set", "loss.anneal=0.01", "--data", nowhere,
        "--out", str(tmp_path / "c"),
    )  # fmt: skip
    assert code == 2 and "configs/scratch_pnp.yaml" in out


@pytest.fixture()
def loader_workers(monkeypatch) -> list[int]:
    """The ``num_workers`` of every DataLoader built while the test runs (the loaders still work)."""
    import torch.utils.data

    started: list[int] = []
    real = torch.utils.data.DataLoader

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs):
            started.append(int(kwargs.get("num_workers", 0)))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(torch.utils.data, "DataLoader", Recording)
    return started


def _identity_folder(root: Path, ids=(3, 7), per_id: int = 2, size=(40, 50)) -> Path:
    import cv2

    rng = np.random.default_rng(0)
    for ident in ids:
        (root / str(ident)).mkdir(parents=True, exist_ok=True)
        for j in range(per_id):
            cv2.imwrite(str(root / str(ident) / f"{j}.png"), rng.integers(0, 255, (*size, 3), dtype=np.uint8))
    return root


def test_embed_and_eval_cap_a_huge_worker_count(tmp_path, checkpoint, reid_main, loader_workers, monkeypatch):
    from reid.procs import available_cores

    monkeypatch.setenv("REID_CACHE_DIR", str(tmp_path / "cache"))
    folder = _identity_folder(tmp_path / "crops", per_id=3)
    code, out, err = reid_main(
        "embed", str(folder), "--weights", str(checkpoint), "--out", str(tmp_path / "f.npz"), "--workers", "100000"
    )
    assert code == 0, err
    assert f"--workers 100000 capped to {available_cores()}" in out
    code, out, err = reid_main(
        "eval", "folder", "--query", str(folder), "--gallery", str(folder), "--weights", str(checkpoint),
        "--workers", "100000",
    )  # fmt: skip
    assert code == 0, err
    assert f"--num-workers 100000 capped to {available_cores()}" in out
    assert len(loader_workers) == 2 and max(loader_workers) <= available_cores()


def _process_table() -> dict[int, tuple[int, str]]:
    """``{pid: (parent pid, state letter)}`` of every process, from /proc."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        table[int(stat.parent.name)] = (int(fields[1]), fields[0])
    return table


#: ``reid`` with every image read hanging, as on a stuck network mount: a worker blocked there never gets back
#: to the DataLoader's own check of its parent, so only ``die_with_parent`` can end it.
HANGING_READS = (
    "import sys, time\n"
    "import reid.data.dataset as dataset\n"
    "dataset.read_image_bgr = lambda path: time.sleep(3600)\n"
    "from reid_cli.main import run\n"
    "sys.argv = ['reid', *sys.argv[1:]]\n"
    "run()\n"
)


def _kill_and_check_children(args: list[str], min_children: int, env: dict | None = None) -> None:
    """Run ``reid ARGS`` (image reads hanging), wait for ``min_children`` child processes, SIGKILL it, and
    require every one of those children to be gone (or a zombie) within seconds."""
    import os
    import signal
    import time

    cmd = [sys.executable, "-c", HANGING_READS, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    try:
        deadline = time.time() + 300
        while True:
            children = [pid for pid, (ppid, _) in _process_table().items() if ppid == proc.pid]
            if len(children) >= min_children:
                break
            assert proc.poll() is None, f"ended before starting its workers: {proc.stderr.read().decode()[-2000:]}"
            assert time.time() < deadline, "the workers never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 15
        while time.time() < deadline:
            table = _process_table()
            alive = [pid for pid in children if pid in table and table[pid][1] != "Z"]
            if not alive:
                return
            time.sleep(0.1)
        for pid in alive:
            os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"worker processes {alive} outlived their killed parent")
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_embed_leaves_no_decoding_worker_behind(tmp_path, checkpoint):
    folder = _identity_folder(tmp_path / "crops", ids=(1, 2), per_id=4, size=(24, 24))
    args = ["embed", str(folder), "--weights", str(checkpoint), "--out", str(tmp_path / "f.npz")]
    args += ["--workers", "2", "--batch-size", "1", "--device", "cpu"]
    _kill_and_check_children(args, 2, env={"REID_CACHE_DIR": str(tmp_path / "cache")})
    assert not (tmp_path / "f.npz").exists()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_training_leaves_no_loader_worker_behind(tmp_path, tiny_vehicleid_for_cli):
    args = ["train", "--data", str(tiny_vehicleid_for_cli), "--out", str(tmp_path / "run"), "--device", "cpu"]
    for s in ("model.arch=resnet18", "model.pretrained=none", "model.input_size=[32,32]", "model.embedding_dim=16",
              "sampler.p=4", "sampler.k=2", "data.val_ids=0", "data.num_workers=2"):  # fmt: skip
        args += ["--set", s]
    _kill_and_check_children(args, 2)


@pytest.fixture(scope="module")
def tiny_vehicleid_for_cli(tmp_path_factory) -> Path:
    from reid.synth.vehicleid import write_vehicleid

    root = tmp_path_factory.mktemp("vid") / "VehicleID"
    return write_vehicleid(root, num_train_ids=10, num_test_ids=2, images_per_id=(3, 4), size=(40, 40))
