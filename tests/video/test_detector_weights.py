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


# ------------------------------------------------------------------------------------------ model YAMLs

_SHIPPED_DIR = "cfg/models"


def _shipped_yaml(relative: str) -> str:
    import ultralytics

    return (Path(ultralytics.__file__).parent / _SHIPPED_DIR / relative).read_text(encoding="utf-8")


def _spec_with_row(tmp_path: Path, row: str, extra: str = "") -> Path:
    """yolo11.yaml with one more head row before Detect (``row`` as YAML flow text) and ``extra`` lines."""
    text = _shipped_yaml("11/yolo11.yaml")
    head_end = text.index("  - [[16, 19, 22], 1, Detect, [nc]]")
    path = tmp_path / "spec.yaml"
    path.write_text(text[:head_end] + f"  - {row}\n" + text[head_end:] + extra, encoding="utf-8")
    return path


def test_every_shipped_model_yaml_passes_the_check() -> None:
    import ultralytics

    from reid.weights import check_model_spec

    root = Path(ultralytics.__file__).parent / _SHIPPED_DIR
    files = sorted(root.rglob("*.yaml"))
    assert len(files) > 20
    for path in files:
        check_model_yaml(path)  # a WeightsError here names the file and the row
    spec = __import__("yaml").safe_load(_shipped_yaml("11/yolo11.yaml"))
    check_model_spec(spec, "yolo11.yaml")


def test_shipped_names_build_with_random_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # Ultralytics finds yolo11n.yaml among its own configs, not in the folder
    for name in ("yolo11n.yaml", "yolov8n.yaml"):
        model = load_yolo(name)
        assert model.task == "detect" and len(model.names) == 80, name
    local = tmp_path / "mine.yaml"
    local.write_text(_shipped_yaml("v8/yolov8.yaml"), encoding="utf-8")
    assert load_yolo(str(local)).task == "detect"


_HOSTILE_ROWS = {
    "torch_load": ("[-1, 1, torch_load, ['{marker}']]", "which is not a layer of torch.nn or ultralytics"),
    "check_requirements": ("[-1, 1, check_requirements, [evilpkg]]", "'check_requirements', which is not a layer"),
    "eval": ("[-1, 1, eval, [\"__import__('os').system('touch {marker}')\"]]", "'eval', which is not a layer"),
    "a module": ("[-1, 1, nn.functional, []]", "'nn.functional', which is not a layer"),
    "torchvision ops": ("[-1, 1, torchvision.ops.nms, []]", "which is not a layer of torch.nn"),
    "parser variable": ("[-1, 1, nn.Upsample, [d, 2, nearest]]", "argument 'd' names a variable of Ultralytics'"),
    "parser list": ("[-1, 1, nn.Upsample, [layers, 2, nearest]]", "argument 'layers' names a variable"),
    "expression": ("[-1, 1, nn.Upsample, [\"__import__('os').system('touch {marker}')\"]]",
                   "is a Python expression in quotes"),
    "attribute": ("[-1, 1, nn.Upsample, ['os.system']]", "is a Python expression in quotes"),
    "quoted list": ("[-1, 1, nn.Upsample, ['[1, 2]', 2]]", "is a Python literal in quotes"),
    "quoted string": ("[-1, 1, nn.Upsample, [\"'nearest'\"]]", "is a Python literal in quotes"),
    "dict argument": ("[-1, 1, nn.Upsample, [{{size: 2}}]]", "is a dict, not a number"),
    "not a row": ("[-1, 1, nn.Upsample]", "is not \\[from, repeats, module, args\\]"),
    "bad from": ("[x, 1, nn.Upsample, [null, 2]]", "'from' 'x' is not a layer index"),
    "bad repeats": ("[-1, '2', nn.Upsample, [null, 2]]", "repeats '2' is not a whole number"),
}
_HOSTILE_ACTIVATIONS = {
    "call of os": "__import__('os').system('touch {marker}')",
    "code inside a layer": "nn.Identity(__import__('os').system('touch {marker}'))",
    "eval": "eval('1')",
    "not a layer": "nn.functional.relu(1)",
    "unknown layer": "nn.NoSuchLayer()",
    "a bare name": "print",
    "a number": "3",
}


@pytest.fixture()
def refuse_building(monkeypatch: pytest.MonkeyPatch):
    """Make any attempt to build a network fail the test: a refused spec must stop before Ultralytics."""
    def build(*args, **kwargs):
        raise AssertionError("a refused model YAML reached Ultralytics")

    monkeypatch.setattr("reid.weights._build_yolo", build)
    monkeypatch.setattr("ultralytics.engine.model.Model.__init__", build)


def _refused(name: str, match: str) -> str:
    with pytest.raises(WeightsError, match=match) as info:
        load_yolo(name)
    message = str(info.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("case", sorted(_HOSTILE_ROWS))
def test_model_yaml_layer_that_is_not_a_plain_layer_is_refused(case, tmp_path: Path, refuse_building) -> None:
    marker = tmp_path / "pwned"
    row, match = _HOSTILE_ROWS[case]
    path = _spec_with_row(tmp_path, row.format(marker=marker))
    message = _refused(str(path), match)
    assert str(path) in message and "layer 23 (head row" in message
    assert not marker.exists()


@pytest.mark.parametrize("case", sorted(_HOSTILE_ACTIVATIONS))
def test_model_yaml_activation_other_than_a_torch_layer_call_is_refused(case, tmp_path: Path,
                                                                         refuse_building) -> None:
    marker = tmp_path / "pwned"
    activation = _HOSTILE_ACTIVATIONS[case].format(marker=marker)
    path = _spec_with_row(tmp_path, "[-1, 1, nn.Identity, []]", f"\nactivation: \"{activation}\"\n")
    _refused(str(path), "sets activation to .* which would run as code")
    assert not marker.exists()


def test_model_yaml_that_is_a_url_or_not_a_regular_file_is_refused(tmp_path: Path, refuse_building) -> None:
    _refused("https://example.com/models/evil.yaml", "is a URL; it would be downloaded")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening it would wait for a writer forever
    _refused(str(fifo), "is not a regular file")
    device = tmp_path / "zero.yaml"
    device.symlink_to("/dev/zero")  # reading it would never end
    _refused(str(device), "is not a regular file")
    (tmp_path / "folder.yaml").mkdir()
    _refused(str(tmp_path / "folder.yaml"), "is not a regular file")
    _refused(str(tmp_path / "missing.yaml"), "does not exist")
    _refused("yolo99z-nothing.yaml", "does not exist, here or among Ultralytics' model configs")


def test_model_yaml_without_backbone_or_layers_or_with_a_key_twice_is_refused(tmp_path: Path, refuse_building) -> None:
    path = tmp_path / "odd.yaml"
    for text, match in (("nc: 80\n", "no backbone/head"), ("- 1\n- 2\n", "no backbone/head"),
                        ("backbone: 3\nhead: []\n", "backbone is not a list of layers"),
                        ("backbone: [\n", "is not readable YAML"),
                        ("backbone: []\nhead: []\nbackbone: [[-1, 1, torch_load, [x]]]\n", "line 3: .*backbone")):
        path.write_text(text, encoding="utf-8")
        _refused(str(path), match)


def test_cli_refuses_a_hostile_model_yaml_in_one_line(short_video, tmp_path: Path, reid_main) -> None:
    marker = tmp_path / "pwned"
    evil = _spec_with_row(tmp_path, f"[-1, 1, torch_load, ['{marker}']]")
    video, _ = short_video
    out = tmp_path / "out"
    code, stdout, stderr = reid_main("track", str(video), "--out", str(out), "--det-weights", str(evil),
                                     "--no-reid", "--device", "cpu")
    assert code == 2, stdout + stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr + stdout, stderr
    assert "torch_load" in errors[0] and "not a layer" in errors[0]
    assert not marker.exists()
    assert not out.exists() or not any(p.name != ".reid-ledger" for p in out.rglob("*")), list(out.rglob("*"))
