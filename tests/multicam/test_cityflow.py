"""The CityFlow / AI City layout as input: camera folders with vdo.avi beside roi.jpg, start times from
cam_timestamp/<scenario>.txt wherever the layout keeps it, and the GPS homography of calibration.txt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reid.cameras import CameraInfo, CamerasConfig
from reid.errors import InputError
from reid.multicam.cityflow import (
    image_to_world,
    layout_camera,
    layout_start_times,
    read_camera_table,
    read_homography,
    with_layout_start_times,
)
from reid.multicam.discover import discover_cameras
from reid.video.sources import is_camera_folder


def make_scenario(root: Path, cameras: tuple[str, ...] = ("c006", "c007"), roi: bool = True) -> Path:
    scenario = root / "train" / "S02"
    for cam in cameras:
        folder = scenario / cam
        (folder / "gt").mkdir(parents=True)
        (folder / "det").mkdir()
        (folder / "vdo.avi").write_bytes(b"video")
        (folder / "gt" / "gt.txt").write_text("1,1,0,0,10,10,1,-1,-1,-1\n")
        if roi:
            (folder / "roi.jpg").write_bytes(b"jpeg")
    return scenario


def test_camera_folders_are_cameras_with_their_region(tmp_path: Path) -> None:
    scenario = make_scenario(tmp_path)
    cam = layout_camera(scenario / "c006")
    assert cam is not None and cam.video.name == "vdo.avi" and cam.roi == scenario / "c006" / "roi.jpg"
    assert cam.truth == scenario / "c006" / "gt" / "gt.txt" and cam.calibration is None
    assert is_camera_folder(scenario)
    folder = discover_cameras(scenario)
    assert folder.names == ["c006", "c007"] and not folder.skipped
    assert [(c.kind, c.path.name, c.roi.name if c.roi else None) for c in folder.cameras] == [
        ("video", "vdo.avi", "roi.jpg"), ("video", "vdo.avi", "roi.jpg")]
    # a folder with other videos is not one camera of the layout, and an ordinary frames folder keeps its jpgs
    (scenario / "c006" / "other.mp4").write_bytes(b"video")
    assert layout_camera(scenario / "c006") is None
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "roi.jpg").write_bytes(b"jpeg")
    assert layout_camera(frames) is None


def test_start_times_come_from_the_timestamp_file(tmp_path: Path) -> None:
    scenario = make_scenario(tmp_path)
    assert layout_start_times(scenario, ["c006", "c007"]) == {}
    assert with_layout_start_times(scenario, ["c006", "c007"], None) is None
    stamps = tmp_path / "cam_timestamp"  # two levels up, as in AIC/train/S02 + AIC/cam_timestamp/S02.txt
    stamps.mkdir()
    (stamps / "S02.txt").write_text("c006 0\nc007 0.061\nc009 1.5\n")
    assert layout_start_times(scenario, ["c006", "c007"]) == {"c006": 0.0, "c007": 0.061}
    cfg = with_layout_start_times(scenario, ["c006", "c007"], None)
    assert {c: i.start_time for c, i in cfg.cameras.items()} == {"c006": 0.0, "c007": 0.061}
    # a start time cameras.yaml sets wins; one it leaves out comes from the layout
    yaml_cfg = CamerasConfig(cameras={"c006": CameraInfo(fps=10.0, start_time=5.0), "c007": CameraInfo(fps=8.0)})
    merged = with_layout_start_times(scenario, ["c006", "c007"], yaml_cfg)
    assert merged.cameras["c006"].start_time == 5.0 and merged.cameras["c007"].start_time == 0.061
    assert merged.cameras["c007"].fps == 8.0
    with pytest.raises(InputError, match="no start time for camera c008"):
        layout_start_times(scenario, ["c006", "c008"])


def test_timestamp_file_inside_or_beside_the_scenario_and_broken_lines(tmp_path: Path) -> None:
    scenario = make_scenario(tmp_path, ("c001",))
    (scenario.parent / "cam_timestamp").mkdir()
    (scenario.parent / "cam_timestamp" / "S02.txt").write_text("c001 2.5\n")
    assert layout_start_times(scenario, ["c001"]) == {"c001": 2.5}
    bad = tmp_path / "bad.txt"
    bad.write_text("c001 0\nc002 zero\n")
    with pytest.raises(InputError, match="line 2 is not '<camera> <number>'"):
        read_camera_table(bad)


def test_homography_maps_pixels_to_gps(tmp_path: Path) -> None:
    # GPS -> pixels: u = 1000 * (lon + 90.7), v = 1000 * (42.5 - lat), a plain affine map
    h = np.array([[0.0, 1000.0, 90700.0], [-1000.0, 0.0, 42500.0], [0.0, 0.0, 1.0]])
    path = tmp_path / "calibration.txt"
    path.write_text("Homography matrix: " + ";".join(" ".join(f"{v:g}" for v in row) for row in h) + "\n")
    assert np.allclose(read_homography(path), h)
    world = image_to_world(read_homography(path), np.array([[0.0, 0.0], [10.0, 20.0]]))
    assert np.allclose(world, [[42.5, -90.7], [42.48, -90.69]])
    path.write_text("Homography matrix: 1 2;3 4\n")
    with pytest.raises(InputError, match="invertible 3x3"):
        read_homography(path)
    path.write_text("Distortion coefficients: 0 0 0 0\n")
    with pytest.raises(InputError, match="no 'Homography matrix:' line"):
        read_homography(path)
