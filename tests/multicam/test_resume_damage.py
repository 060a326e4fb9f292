"""Damaged resume files (tracklets/<camera>.npz and .jsonl, manifest.json) give one warning line and the camera
or run is done again; a manifest.json this runner did not write is refused and left alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reid.errors import OutputError
from reid.multicam.manifest import Manifest, load_tracklets, save_tracklets
from reid.types import Tracklet

SETTINGS = {"track": {"conf": 0.25}}


def finished_run(out: Path, cameras=("cam1", "cam2")) -> Manifest:
    manifest, _ = Manifest.load_or_create(out, "/data/site", SETTINGS)
    for cam in cameras:
        ts = [Tracklet(cam, i, 2, 0, 9, 1.0 + i, 2.0 + i, 10, [f"crops/{cam}/{i}.jpg"],
                       np.full(4, 0.5, np.float32)) for i in (1, 2, 3)]
        save_tracklets(out, cam, ts, 4)
        manifest.mark_finished(cam, {"camera": cam, "frames": 40, "fps": 8.0, "tracklets": 3, "incomplete": False})
    return manifest


def npz(out: Path, cam: str) -> Path:
    return out / "tracklets" / f"{cam}.npz"


def jsonl(out: Path, cam: str) -> Path:
    return out / "tracklets" / f"{cam}.jsonl"


DAMAGE = {
    "npz truncated": lambda out: npz(out, "cam1").write_bytes(npz(out, "cam1").read_bytes()[:200]),
    "npz empty": lambda out: npz(out, "cam1").write_bytes(b""),
    "npz garbage": lambda out: npz(out, "cam1").write_bytes(b"\x00garbage" * 50),
    "npz missing": lambda out: npz(out, "cam1").unlink(),
    "jsonl cut mid-line": lambda out: jsonl(out, "cam1").write_text(jsonl(out, "cam1").read_text()[:-30]),
    "jsonl line lost": lambda out: jsonl(out, "cam1").write_text(jsonl(out, "cam1").read_text().split("\n", 1)[1]),
    "jsonl not utf-8": lambda out: jsonl(out, "cam1").write_bytes(b"\xff\xfe\x00" * 20),
    "jsonl wrong record": lambda out: jsonl(out, "cam1").write_text('{"camera": "cam1", "colour": 3}\n' * 3),
    "jsonl other camera": lambda out: jsonl(out, "cam1").write_text(jsonl(out, "cam2").read_text()),
    "jsonl missing": lambda out: jsonl(out, "cam1").unlink(),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_tracklet_files_send_the_camera_back(tmp_path: Path, damage: str) -> None:
    finished_run(tmp_path)
    DAMAGE[damage](tmp_path)
    with pytest.raises(OutputError, match="saved tracklets of camera cam1"):
        load_tracklets(tmp_path, "cam1")
    manifest, resumed = Manifest.load_or_create(tmp_path, "/data/site", SETTINGS)
    assert resumed
    warnings = manifest.recheck_finished(tmp_path)
    assert len(warnings) == 1 and warnings[0].startswith("camera cam1:") and "processing it again" in warnings[0]
    assert "\n" not in warnings[0] and manifest.warnings == warnings
    assert manifest.finished("cam1") is None and manifest.finished("cam2") is not None
    saved = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(saved["cameras"]) == ["cam2"] and not saved["linked"]


def test_manifest_summary_that_disagrees_sends_the_camera_back(tmp_path: Path) -> None:
    manifest = finished_run(tmp_path, cameras=("cam1", "cam2", "cam3"))
    manifest.data["cameras"]["cam1"]["tracklets"] = 7
    manifest.data["cameras"]["cam2"]["frames"] = "many"
    manifest.save()
    again, _ = Manifest.load_or_create(tmp_path, "/data/site", SETTINGS)
    warnings = again.recheck_finished(tmp_path)
    assert [w.split(":")[0] for w in warnings] == ["camera cam1", "camera cam2"]
    assert list(again.data["cameras"]) == ["cam3"]


def test_damaged_manifest_of_this_runner_starts_over_with_its_run_key(tmp_path: Path) -> None:
    key = finished_run(tmp_path).run_key
    (tmp_path / "notes.txt").write_text("the user's own file")
    text = (tmp_path / "manifest.json").read_text()
    for cut, key_visible in ((len(text) // 2, True), (text.index('"settings"'), True), (30, False)):
        (tmp_path / "manifest.json").write_text(text[:cut])
        manifest, resumed = Manifest.load_or_create(tmp_path, "/data/site", SETTINGS)
        assert not resumed and manifest.data["cameras"] == {}
        assert len(manifest.warnings) == 1 and "is damaged" in manifest.warnings[0]
        assert (manifest.run_key == key) == key_visible
        assert json.loads((tmp_path / "manifest.json").read_text())["run_key"] == manifest.run_key
        (tmp_path / "manifest.json").write_text(text)
    assert (tmp_path / "notes.txt").read_text() == "the user's own file"
    assert npz(tmp_path, "cam1").exists()  # nothing is deleted: the cameras are tracked again and replaced
    (tmp_path / "manifest.json").write_text("")  # empty, beside this runner's tracklets/ folder
    manifest, resumed = Manifest.load_or_create(tmp_path, "/data/site", SETTINGS)
    assert not resumed and manifest.warnings


@pytest.mark.parametrize(("key", "value"), [
    ("link", [1]), ("link", None), ("link", "done"), ("linked", "yes"), ("linked", None), ("cameras", [1]),
    ("cameras", None), ("run_key", 7), ("settings", [1]), ("source", None), ("version", "1"),
    ("link", {"config": [1], "report": None}), ("link", {"config": {}, "report": [2]}),
])
def test_manifest_with_a_wrong_type_starts_over_like_a_damaged_one(tmp_path: Path, key: str, value) -> None:
    manifest = finished_run(tmp_path)
    manifest.mark_linked({"identities": 3, "time": 1.0, "config": {}, "report": None})
    data = json.loads((tmp_path / "manifest.json").read_text())
    data[key] = value
    (tmp_path / "manifest.json").write_text(json.dumps(data, indent=2))
    again, resumed = Manifest.load_or_create(tmp_path, "/data/site", SETTINGS)
    assert not resumed and again.data["cameras"] == {} and again.link == {} and again.data["linked"] is False
    assert len(again.warnings) == 1 and "is damaged" in again.warnings[0] and "\n" not in again.warnings[0]
    assert (again.run_key == manifest.run_key) == (key != "run_key")  # salvaged from the text where it is
    assert json.loads((tmp_path / "manifest.json").read_text())["cameras"] == {}


def test_manifest_nested_too_deeply_is_damaged_not_a_crash(tmp_path: Path) -> None:
    """JSON nested past the parser's depth is a damaged manifest: ours (it starts as ours does) starts over,
    anything else is refused and left alone, each in one line."""
    key = finished_run(tmp_path).run_key
    text = (tmp_path / "manifest.json").read_text()
    deep = text[:text.index('"settings"')] + '"settings": ' + "[" * 100000
    (tmp_path / "manifest.json").write_text(deep)
    manifest, resumed = Manifest.load_or_create(tmp_path, "/data/site", SETTINGS)
    assert not resumed and manifest.run_key == key and manifest.data["cameras"] == {}
    assert len(manifest.warnings) == 1 and "nested too deeply" in manifest.warnings[0]
    (tmp_path / "manifest.json").write_text("[" * 100000)
    with pytest.raises(OutputError, match="not a reid camera-folder manifest .nested too deeply"):
        Manifest.load_or_create(tmp_path, "/data/site", SETTINGS)
    assert (tmp_path / "manifest.json").read_text() == "[" * 100000


def test_foreign_manifest_is_refused_and_left_alone(tmp_path: Path) -> None:
    for text in ('{"name": "my project", "version": 3}', "", "[1, 2, 3]", '{"format": "reid-multicam"'):
        (tmp_path / "manifest.json").write_text(text)
        with pytest.raises(OutputError, match="not a reid camera-folder manifest"):
            Manifest.load_or_create(tmp_path, "/data/site", SETTINGS)
        assert (tmp_path / "manifest.json").read_text() == text


@pytest.mark.slow
def test_camera_folder_run_recovers_from_damaged_resume_files(tmp_path: Path) -> None:
    """A finished run whose files are then damaged: the rerun warns, tracks the damaged camera again, and ends
    with the same outputs and one copy of the run in the gallery."""
    from reid.gallery.config import LinkConfig
    from reid.gallery.gallery import Gallery
    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model
    from reid.multicam.runner import run_camera_folder
    from reid.synth.scene import write_scene
    from reid.video.config import TrackConfig

    cfg = ModelConfig(arch="resnet18", pretrained="none", input_size=(64, 64), embedding_dim=32)
    save_checkpoint(tmp_path / "net.pt", make_checkpoint(build_model(cfg), cfg))
    scene = tmp_path / "scene"
    write_scene(scene, cameras=2, vehicles=3, seconds=6.0, fps=8.0, size=(192, 108), seed=1)
    track = TrackConfig(detector="motion", reid_weights=str(tmp_path / "net.pt"), device="cpu")
    out = tmp_path / "out"
    first = run_camera_folder(scene, out, track, LinkConfig(), workers=1, report=False)
    reference = (out / "identities.json").read_text()
    names = [c.name for c in first.cameras]

    npz(out, names[0]).write_bytes(npz(out, names[0]).read_bytes()[:100])
    again = run_camera_folder(scene, out, track, LinkConfig(), workers=1, report=False)
    assert [c.resumed for c in again.cameras] == [False, True]
    assert any(w.startswith(f"camera {names[0]}:") and "processing it again" in w for w in again.warnings)
    assert (out / "identities.json").read_text() == reference

    text = (out / "manifest.json").read_text()
    (out / "manifest.json").write_text(text[: len(text) // 2])
    third = run_camera_folder(scene, out, track, LinkConfig(), workers=1, report=False)
    assert not any(c.resumed for c in third.cameras)
    assert any("manifest" in w and "is damaged" in w for w in third.warnings)
    assert (out / "identities.json").read_text() == reference
    with Gallery.open(out / "gallery", create=False) as g:
        assert g.info()["runs"] == 1  # the salvaged run key: the run was not added a second time
