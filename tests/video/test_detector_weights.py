"""Detector weights never run code when loaded, and a file that cannot be loaded is refused with its real cause."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from reid.errors import WeightsError
from reid.weights import check_model_yaml, check_yolo_checkpoint, load_yolo


class _Payload:
    """Unpickling this object runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Constructor:
    """Unpickling this calls an allowed class (the YOLO network) with a config whose activation is code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        from ultralytics.nn.tasks import DetectionModel

        cfg = {"activation": f"__import__('os').system('touch {self.marker}')", "backbone": [], "head": []}
        return (DetectionModel, (cfg,))


def _ckpt(yolo_checkpoints):
    return torch.load(yolo_checkpoints["saved"], map_location="cpu", weights_only=False)


def _malicious_files(yolo_checkpoints, root: Path, marker: Path) -> dict[str, Path]:
    files = {}
    ckpt = _ckpt(yolo_checkpoints)
    torch.save({**ckpt, "extra": _Payload(marker)}, root / "in_dict.pt")
    files["in_dict"] = root / "in_dict.pt"
    ckpt = _ckpt(yolo_checkpoints)
    ckpt["model"].model[0].__dict__["hook"] = _Payload(marker)
    torch.save(ckpt, root / "in_layer.pt")
    files["in_layer"] = root / "in_layer.pt"
    torch.save({**_ckpt(yolo_checkpoints), "model": _Constructor(marker)}, root / "constructor.pt")
    files["constructor"] = root / "constructor.pt"
    ckpt = _ckpt(yolo_checkpoints)
    ckpt["model"].__dict__["fuse"] = eval  # a function stored as a value: Ultralytics would call it
    torch.save(ckpt, root / "function_value.pt")
    files["function_value"] = root / "function_value.pt"
    buffer = io.BytesIO()
    torch.save({**_ckpt(yolo_checkpoints), "extra": _Payload(marker)}, buffer, pickle_protocol=4)
    (root / "protocol4.pt").write_bytes(buffer.getvalue())  # STACK_GLOBAL instead of GLOBAL
    files["protocol4"] = root / "protocol4.pt"
    return files


def test_real_checkpoints_load_and_detect(yolo_checkpoints) -> None:
    from reid.video.detectors import YoloDetector

    for kind in ("saved", "trainer"):
        check_yolo_checkpoint(yolo_checkpoints[kind])
        model = load_yolo(str(yolo_checkpoints[kind]))
        assert model.task == "detect" and len(model.names) == 80
    detector = YoloDetector(str(yolo_checkpoints["trainer"]), imgsz=64, device="cpu")
    out = detector.detect([np.zeros((64, 64, 3), np.uint8)])
    assert len(out) == 1 and out[0].boxes.shape[1] == 4


def test_malicious_pickles_are_refused_without_running(yolo_checkpoints, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for name, path in _malicious_files(yolo_checkpoints, tmp_path, marker).items():
        with pytest.raises(WeightsError, match="holds code that loading would run") as info:
            load_yolo(str(path))
        assert "only use detector weights from a source you trust" in str(info.value), name
        assert not marker.exists(), f"{name}: the payload ran"
    with pytest.raises(WeightsError, match="calls ultralytics.nn.tasks.DetectionModel"):
        check_yolo_checkpoint(tmp_path / "constructor.pt")
    with pytest.raises(WeightsError, match="refers to builtins.eval"):
        check_yolo_checkpoint(tmp_path / "function_value.pt")


def _with_pickle(source: Path, target: Path, pickle_bytes: bytes) -> Path:
    """A copy of the checkpoint archive ``source`` whose data.pkl is ``pickle_bytes``."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, pickle_bytes if info.filename.endswith("/data.pkl") else src.read(info.filename))
    return target


def test_names_in_a_file_are_never_imported(yolo_checkpoints, tmp_path: Path) -> None:
    # importing ultralytics.nn.text_model would pip-install CLIP; a file naming it must not cause that
    assert "ultralytics.nn.text_model" not in sys.modules
    for module, name in (("ultralytics.nn.text_model", "CLIP"), ("ultralytics.nn.autobackend", "AutoBackend"),
                         ("antigravity", "geohash")):
        crafted = f"\x80\x02c{module}\n{name}\n)\x81.".encode("latin-1")  # GLOBAL, (), NEWOBJ
        path = _with_pickle(yolo_checkpoints["saved"], tmp_path / f"{name}.pt", crafted)
        with pytest.raises(WeightsError, match=f"refers to {module}.{name}"):
            check_yolo_checkpoint(path)
    assert "ultralytics.nn.text_model" not in sys.modules and "antigravity" not in sys.modules


def test_each_loading_failure_names_its_cause(yolo_checkpoints, small_reid_checkpoint, tmp_path: Path) -> None:
    data = yolo_checkpoints["saved"].read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_text("hello, not weights\n" * 20)
    torch.save(_ckpt(yolo_checkpoints)["model"].state_dict(), tmp_path / "state_dict.pt")
    with zipfile.ZipFile(yolo_checkpoints["saved"]) as src, zipfile.ZipFile(tmp_path / "cut.pt", "w") as dst:
        dropped = [n for n in src.namelist() if "/data/" in n][0]
        for info in src.infolist():
            if info.filename != dropped:
                dst.writestr(info, src.read(info.filename))
    cases = {
        "truncated.pt": "is damaged: a truncated or corrupt zip archive",
        "empty.pt": "is empty",
        "text.pt": "is not a PyTorch file",
        "state_dict.pt": "not an Ultralytics detection checkpoint",
        "cut.pt": "is damaged: tensor data record",
        "missing.pt": "do not exist",
    }
    for name, cause in cases.items():
        with pytest.raises(WeightsError, match=cause) as info:
            load_yolo(str(tmp_path / name))
        assert "downloaded" not in str(info.value), name
    with pytest.raises(WeightsError, match="not an Ultralytics detection checkpoint"):
        load_yolo(str(small_reid_checkpoint))


def test_missing_release_offline_says_download_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ultralytics.utils.downloads as downloads

    def offline(*args, **kwargs):
        raise ConnectionError("no internet")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(downloads, "attempt_download_asset", offline)
    monkeypatch.setattr("reid.weights.ultralytics_weights_dir", lambda: tmp_path)
    with pytest.raises(WeightsError, match="not on this machine and could not be downloaded"):
        load_yolo("yolo11n.pt")
    with pytest.raises(WeightsError, match="do not exist"):  # not a release name: nothing to download
        load_yolo("my-detector.pt")


def test_model_yaml_activation_cannot_run_code(tmp_path: Path) -> None:
    import ultralytics

    shipped = Path(ultralytics.__file__).parent / "cfg" / "models" / "11" / "yolo11.yaml"
    text = shipped.read_text(encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(text + "\nactivation: nn.LeakyReLU(0.1)\n", encoding="utf-8")
    check_model_yaml(good)
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.yaml"
    evil.write_text(text + f"\nactivation: __import__('os').system('touch {marker}')\n", encoding="utf-8")
    with pytest.raises(WeightsError, match="would run as code"):
        load_yolo(str(evil))
    sneaky = tmp_path / "sneaky.yaml"
    sneaky.write_text(text + f"\nactivation: nn.Identity(__import__('os').system('touch {marker}'))\n")
    with pytest.raises(WeightsError, match="would run as code"):
        load_yolo(str(sneaky))
    assert not marker.exists()


def test_cli_refuses_malicious_detector_in_one_line(yolo_checkpoints, short_video, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = _malicious_files(yolo_checkpoints, tmp_path, marker)["in_layer"]
    video, _ = short_video
    proc = subprocess.run(
        [sys.executable, "-m", "reid_cli.main", "track", str(video), "--out", str(tmp_path / "out"),
         "--det-weights", str(evil), "--no-reid", "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]  # beside a progress bar
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "holds code that loading would run" in errors[0]
    assert not marker.exists()


@pytest.fixture(scope="module")
def small_reid_checkpoint(tmp_path_factory) -> Path:
    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model

    cfg = ModelConfig(arch="resnet18", pretrained="none", input_size=(64, 64), embedding_dim=16)
    path = tmp_path_factory.mktemp("reid") / "best.pt"
    save_checkpoint(path, make_checkpoint(build_model(cfg), cfg))
    return path
