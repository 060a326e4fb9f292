"""track_video end to end on tiny synthetic videos: outputs, rejoin, embedding cost, broken input, YOLO path."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from synthetic import ColourEmbedder, Vehicle, write_video

from reid.evaluation.mot import evaluate_mot
from reid.video.config import TrackConfig
from reid.video.pipeline import relabel_camera, track_video
from reid.video.writers import read_mot, read_status


def test_outputs_and_mot_format(short_video, tmp_path: Path) -> None:
    video, gt = short_video
    embedder = ColourEmbedder()
    cfg = TrackConfig(detector="motion", save_crops=True, crops_per_track=3)
    result = track_video(video, "road", cfg, embedder, tmp_path, time_offset=100.0)
    assert result.frames == 40 and not result.incomplete and result.mot_path == tmp_path / "mot" / "road.txt"
    lines = result.mot_path.read_text().splitlines()
    assert lines
    for line in lines:
        parts = line.split(",")
        assert len(parts) == 10 and parts[7:] == ["-1", "-1", "-1"]
        assert int(parts[0]) >= 1 and float(parts[4]) > 0 and float(parts[5]) > 0
    frames = [int(line.split(",")[0]) for line in lines]
    assert frames == sorted(frames)
    assert len(result.tracklets) == 2
    for t in result.tracklets:
        assert t.feature is not None and abs(np.linalg.norm(t.feature) - 1) < 1e-5
        assert t.first_time >= 100.0 and 1 <= len(t.crop_paths) <= 3
        assert all(Path(p).is_file() for p in t.crop_paths)
    # every crop embedded once, in batches: cost bounded by tracks x K
    assert embedder.crops <= 3 * 2 and embedder.calls <= 2
    records = [json.loads(x) for x in (tmp_path / "tracklets.jsonl").read_text().splitlines()]
    assert {r["id"] for r in records} == {t.track_id for t in result.tracklets}
    assert records[0]["camera"] == "road" and records[0]["class"] == "car"
    assert read_status(tmp_path)["cameras"]["road"]["state"] == "complete"
    scores = evaluate_mot(tmp_path / "mot", gt.parent)
    assert scores[0].idf1 > 0.8


def test_rejoin_after_occlusion_end_to_end(tmp_path: Path) -> None:
    vehicles = [Vehicle(1, -40, 90, 8.0, 0.0, 44, 24, (0, 0, 230))]
    video = write_video(
        tmp_path / "occ.mp4", 45, vehicles, occluder=(140, 200), gt_path=tmp_path / "gt" / "occ.txt"
    )
    out = tmp_path / "out"
    out.mkdir()
    cfg = TrackConfig(detector="motion", tracker="bytetrack")
    cfg.rejoin.max_gap = 3.0
    # a tracker that forgets lost tracks at once makes the occlusion break the track in two
    tracker_yaml = tmp_path / "short_memory.yaml"
    tracker_yaml.write_text("kind: tracker\ntracker_type: bytetrack\ntrack_buffer: 2\n")
    cfg.tracker = str(tracker_yaml)
    with_rejoin = track_video(video, "occ", cfg, ColourEmbedder(), out)
    assert len(with_rejoin.tracklets) == 1 and with_rejoin.rejoined
    cfg.rejoin.enabled = False
    out2 = tmp_path / "out2"
    out2.mkdir()
    without = track_video(video, "occ", cfg, ColourEmbedder(), out2)
    assert len(without.tracklets) >= 2 and not without.rejoined
    assert len(set(read_mot(with_rejoin.mot_path)[:, 1])) == 1


def test_broken_video_marks_outputs_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(30):
        writer.write(np.full((48, 64, 3), i * 4, np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    out.mkdir()
    result = track_video(path, "cut", TrackConfig(detector="motion"), None, out)
    assert result.incomplete and "frame" in result.warning
    status = read_status(out)
    assert status["complete"] is False and status["cameras"]["cut"]["state"] == "incomplete"
    assert result.mot_path.is_file()


def test_relabel_with_global_ids_and_video(short_video, tmp_path: Path) -> None:
    video, _ = short_video
    cfg = TrackConfig(detector="motion", save_video=True)
    result = track_video(video, "road", cfg, None, tmp_path)
    assert result.video_path is not None and result.video_path.is_file()
    ids = sorted({int(i) for i in read_mot(result.mot_path)[:, 1]})
    mapping = {ids[0]: 1000}
    relabel_camera(tmp_path, "road", mapping, source=video, config=cfg)
    new_ids = {int(i) for i in read_mot(result.mot_path)[:, 1]}
    assert 1000 in new_ids and ids[0] not in new_ids and set(ids[1:]) <= new_ids
    cap = cv2.VideoCapture(str(result.video_path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 40


@pytest.mark.slow
def test_yolo_path_runs_with_random_weights(short_video, tmp_path: Path) -> None:
    video, _ = short_video
    cfg = TrackConfig(detector="yolo", det_weights="yolo11n.yaml", imgsz=160, conf=0.01, device="cpu")
    result = track_video(video, "road", cfg, None, tmp_path)
    assert result.frames == 40 and result.mot_path.is_file()


def test_yolo_unknown_class_lists_valid_ones() -> None:
    from reid.errors import ConfigError
    from reid.video.detectors import YoloDetector

    with pytest.raises(ConfigError, match="--classes takes names from: person"):
        YoloDetector("yolo11n.yaml", classes=["car", "spaceship"], device="cpu")
