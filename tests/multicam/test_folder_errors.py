"""Bad camera folders and run folders give one clear line (exit code 2) before any work is done."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reid.errors import OutputError
from reid.multicam.manifest import Manifest, load_tracklets, save_tracklets
from reid.types import Tracklet


def run_track(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reid_cli.main", "track", *args], capture_output=True, text=True,
                          timeout=300)


def one_line(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in lines[0], lines[0]


def test_duplicate_camera_names_and_unknown_yaml_camera(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "cam1").mkdir(parents=True)
    (site / "cam1.mp4").write_bytes(b"not really a video")
    (site / "cam1" / "clip.mp4").write_bytes(b"not really a video")
    one_line(run_track(str(site), "--out", str(tmp_path / "out")), "two cameras are named 'cam1'")
    (site / "cam1" / "clip.mp4").unlink()
    (site / "cam1").rmdir()
    (site / "cameras.yaml").write_text("kind: cameras\ncameras:\n  cam1: {fps: 10}\n  cam9: {fps: 10}\n")
    one_line(run_track(str(site), "--out", str(tmp_path / "out")), "names camera cam9")
    assert not (tmp_path / "out").exists()


def test_manifest_refuses_another_source_or_settings(tmp_path: Path) -> None:
    m, resumed = Manifest.load_or_create(tmp_path, "/data/site", {"track": {"conf": 0.25}})
    assert not resumed
    m.mark_finished("cam1", {"frames": 10})
    again, resumed = Manifest.load_or_create(tmp_path, "/data/site", {"track": {"conf": 0.25}})
    assert resumed and again.finished("cam1") == {"frames": 10} and again.run_key == m.run_key
    with pytest.raises(OutputError, match="holds a run of /data/site"):
        Manifest.load_or_create(tmp_path, "/data/other", {"track": {"conf": 0.25}})
    with pytest.raises(OutputError, match="other settings \\(track\\)"):
        Manifest.load_or_create(tmp_path, "/data/site", {"track": {"conf": 0.5}})
    (tmp_path / "manifest.json").write_text("{broken")  # not what this runner writes: refused, left alone
    with pytest.raises(OutputError, match="not a reid camera-folder manifest"):
        Manifest.load_or_create(tmp_path, "/data/site", {})
    assert (tmp_path / "manifest.json").read_text() == "{broken"


def test_tracklets_round_trip_and_damage(tmp_path: Path) -> None:
    import numpy as np

    ts = [Tracklet("cam1", 3, 2, 0, 9, 1.5, 2.5, 10, ["a.jpg"], np.ones(4, np.float32) / 2),
          Tracklet("cam1", 4, 2, 5, 9, 2.0, 2.5, 5, [], None)]
    save_tracklets(tmp_path, "cam1", ts, 4)
    back = load_tracklets(tmp_path, "cam1")
    assert [(t.track_id, t.first_time, t.crop_paths) for t in back] == [(3, 1.5, ["a.jpg"]), (4, 2.0, [])]
    assert np.allclose(back[0].feature, 0.5) and back[1].feature is None
    lines = (tmp_path / "tracklets" / "cam1.jsonl").read_text().splitlines()
    (tmp_path / "tracklets" / "cam1.jsonl").write_text(lines[0] + "\n")
    with pytest.raises(OutputError, match="disagree"):
        load_tracklets(tmp_path, "cam1")
    assert json.loads(lines[0])["camera"] == "cam1"
