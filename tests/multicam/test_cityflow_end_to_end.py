"""A synthetic scene in the CityFlow / AI City layout end to end: ``reid track S01/`` with each camera's region
mask, start times from cam_timestamp/S01.txt, ``--aic-export``, and ``reid eval mtmc`` on both outputs. A
detection outside a camera's region never reaches a track."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reid.evaluation.mtmc import evaluate_mtmc
from reid.motfile import read_mot
from reid.synth.scene import write_scene
from reid.video.config import TrackConfig
from reid.video.pipeline import track_video
from reid.video.roi import inside, load_mask

pytestmark = pytest.mark.slow

STARTS = {"c001": 0.0, "c002": 0.5, "c003": 1.25}


def reid(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reid_cli.main", *args], capture_output=True, text=True, timeout=600)


def outside(mot_file: Path, mask: np.ndarray) -> tuple[int, int]:
    """(rows, rows whose box's bottom centre lies outside ``mask``) of a MOT file."""
    rows = read_mot(mot_file)
    boxes = np.column_stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]])
    return len(rows), int((~inside(mask, boxes)).sum())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model

    root = tmp_path_factory.mktemp("cityflow")
    info = write_scene(root / "AIC", cameras=3, vehicles=6, seconds=10.0, fps=8.0, size=(320, 180), seed=5,
                       layout="cityflow")
    (root / "AIC" / "cam_timestamp" / "S01.txt").write_text("".join(f"{c} {t}\n" for c, t in STARTS.items()))
    cfg = ModelConfig(arch="resnet18", pretrained="none", embedding_dim=32, input_size=(64, 64))
    weights = save_checkpoint(root / "random.pt", make_checkpoint(build_model(cfg), cfg))
    submission = root / "track1.txt"
    run = reid("track", str(info.source), "--out", str(root / "run"), "--detector", "motion", "--reid-weights",
               str(weights), "--device", "cpu", "--aic-export", str(submission))
    assert run.returncode == 0, run.stdout + run.stderr
    return {"root": root, "info": info, "run": root / "run", "submission": submission, "stdout": run.stdout}


def test_no_detection_outside_the_region_reaches_a_track(world: dict) -> None:
    info = world["info"]
    for cam in info.cameras:
        mask = load_mask(info.rois[cam])
        for mot in (world["run"] / "mot" / f"{cam}.txt", world["run"] / "cameras" / cam / "mot" / f"{cam}.txt"):
            rows, out = outside(mot, mask)
            assert rows > 0 and out == 0, (cam, mot, out)
    # the same camera tracked without its mask does track vehicles outside the region
    plain = world["root"] / "plain"
    plain.mkdir()
    result = track_video(info.videos["c001"], "c001", TrackConfig(detector="motion"), None, plain)
    rows, out = outside(result.mot_path, load_mask(info.rois["c001"]))
    assert rows > 0 and out > 0


def test_start_times_come_from_the_layout(world: dict) -> None:
    doc = json.loads((world["run"] / "identities.json").read_text())
    assert {c: v["start_time"] for c, v in doc["cameras"].items()} == STARTS
    for ident in doc["identities"]:
        for s in ident["sightings"]:
            assert s["t_start"] >= STARTS[s["camera"]] + (s["first_frame"] - 1) / 8.0 - 1e-3


def test_aic_export_scores_like_the_mot_files(world: dict) -> None:
    info = world["info"]
    assert "AI City submission" in world["stdout"]
    lines = world["submission"].read_text().splitlines()
    assert lines and {line.split()[0] for line in lines} <= {"1", "2", "3"}
    assert all(line.split()[7:] == ["-1", "-1"] for line in lines)  # no calibration.txt in this scene
    from_mot = evaluate_mtmc(world["run"] / "mot", info.source)
    from_aic = evaluate_mtmc(world["submission"], info.source, pred_format="aic")
    assert from_mot.cameras == info.cameras and 0.0 < from_mot.hota <= 1.0 and from_mot.deta > 0.3
    assert from_aic.hota == pytest.approx(from_mot.hota, abs=0.02)
    assert from_aic.idf1 == pytest.approx(from_mot.idf1, abs=0.02)
    cli = reid("eval", "mtmc", "--pred", str(world["submission"]), "--format", "aic", "--gt", str(info.source))
    assert cli.returncode == 0 and "HOTA" in cli.stdout, cli.stderr


def test_one_camera_folder_is_its_video_with_its_mask(world: dict) -> None:
    info = world["info"]
    out = world["root"] / "single"
    run = reid("track", str(info.source / "c002"), "--out", str(out), "--detector", "motion", "--no-reid",
               "--device", "cpu")
    assert run.returncode == 0, run.stdout + run.stderr
    rows, out_rows = outside(out / "mot" / "c002.txt", load_mask(info.rois["c002"]))
    assert rows > 0 and out_rows == 0
    assert "roi.jpg" in (out / "config.yaml").read_text()
