"""The CityFlowV2 / AI City Challenge layout as input.

A scenario folder holds one folder per camera::

    S02/c006/vdo.avi            the camera's video
    S02/c006/roi.jpg            optional region of interest: white where vehicles are to be tracked
    S02/c006/calibration.txt    optional: "Homography matrix: h11 h12 h13;h21 h22 h23;h31 h32 h33" (GPS -> pixels)
    S02/c006/gt/gt.txt          optional MOTChallenge ground truth with global ids
    (det/, mtsc/, segm/ ...)    the challenge's baseline outputs, not read

and beside it (in the scenario's parent, or the parent of ``train/``, ``validation/`` or ``test/``) the
camera clocks::

    cam_timestamp/S02.txt       one line per camera: "c006 0", "c007 0.061", ... start time in seconds
    cam_framenum/S02.txt        one line per camera: "c006 2110", ... frames of its video

The start times become the cameras' time offsets on the shared clock (a ``cameras.yaml`` that sets a camera's
``start_time`` explicitly wins). The region mask filters detections before tracking (:mod:`reid.video.roi`);
the calibration gives the world position of the AI City export (:mod:`reid.multicam.aic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reid.errors import InputError

VIDEO_STEM = "vdo"
ROI_FILE = "roi.jpg"
CALIBRATION_FILE = "calibration.txt"
TRUTH_FILE = Path("gt") / "gt.txt"
TIMESTAMP_DIR = "cam_timestamp"
FRAMENUM_DIR = "cam_framenum"


@dataclass
class LayoutCamera:
    """One camera folder of the layout and the optional files it holds (None where absent)."""

    name: str
    folder: Path
    video: Path
    roi: Path | None = None
    calibration: Path | None = None
    truth: Path | None = None


def layout_camera(folder: str | Path) -> LayoutCamera | None:
    """The camera of a CityFlow camera folder (its one video is ``vdo.<video suffix>``), else None."""
    from reid.video.sources import VIDEO_SUFFIXES

    folder = Path(folder)
    if not folder.is_dir():
        return None
    videos = [p for p in sorted(folder.iterdir())
              if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".") and p.is_file()]
    if len(videos) != 1 or videos[0].stem != VIDEO_STEM:
        return None  # a folder holding other videos is a folder of cameras, not one camera of the layout

    def optional(path: Path) -> Path | None:
        return path if path.is_file() else None

    return LayoutCamera(folder.name, folder, videos[0], optional(folder / ROI_FILE),
                        optional(folder / CALIBRATION_FILE), optional(folder / TRUTH_FILE))


def is_layout_file(path: Path) -> bool:
    """Whether ``path`` is a side file of a CityFlow camera folder (its ``roi.jpg``), not a video frame."""
    return path.name == ROI_FILE and layout_camera(path.parent) is not None


def read_camera_table(path: str | Path) -> dict[str, float]:
    """``{camera: value}`` of a ``cam_timestamp`` or ``cam_framenum`` file ("c006 0.061" lines)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from exc
    table: dict[str, float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) != 2:
                raise ValueError
            table[parts[0]] = float(parts[1])
        except ValueError:
            raise InputError(f"{path} line {number} is not '<camera> <number>': {line[:60]!r}") from None
    return table


def layout_file(scenario: str | Path, kind: str) -> Path | None:
    """``<kind>/<scenario>.txt`` (``kind`` is ``cam_timestamp`` or ``cam_framenum``) where the layout keeps it:
    inside the scenario, in its parent, or two levels up (``AIC/train/S01`` -> ``AIC/cam_timestamp/S01.txt``)."""
    scenario = Path(scenario).resolve()
    for base in (scenario, scenario.parent, scenario.parent.parent):
        candidate = base / kind / f"{scenario.name}.txt"
        if candidate.is_file():
            return candidate
    return None


def layout_start_times(scenario: str | Path, cameras: list[str]) -> dict[str, float]:
    """Start time of each camera from the scenario's ``cam_timestamp`` file; empty when there is none."""
    path = layout_file(scenario, TIMESTAMP_DIR)
    if path is None:
        return {}
    table = read_camera_table(path)
    missing = [c for c in cameras if c not in table]
    if missing:
        raise InputError(f"{path} gives no start time for camera{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)}", f"add a '<camera> <seconds>' line for each camera to {path.name}")
    return {c: table[c] for c in cameras}


def with_layout_start_times(scenario: str | Path, cameras: list[str], cameras_cfg: Any) -> Any:
    """``cameras_cfg`` (a :class:`reid.cameras.CamerasConfig` or None) with the layout's start times filled in.

    A start time that ``cameras.yaml`` sets explicitly is kept; without a timestamp file nothing changes.
    """
    from reid.cameras import CameraInfo, CamerasConfig

    times = layout_start_times(scenario, cameras)
    if not times:
        return cameras_cfg
    current = cameras_cfg if cameras_cfg is not None else CamerasConfig()
    merged = dict(current.cameras)
    for cam, start in times.items():
        info = merged.get(cam)
        if info is None:
            merged[cam] = CameraInfo(start_time=start)
        elif "start_time" not in info.model_fields_set:
            merged[cam] = info.model_copy(update={"start_time": start})
    return current.model_copy(update={"cameras": merged})


def read_homography(path: str | Path) -> np.ndarray:
    """The 3x3 GPS -> pixel homography of a ``calibration.txt`` ("Homography matrix: a b c;d e f;g h i")."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read calibration {path}: {exc}") from exc
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip().lower().startswith("homography"):
            try:
                matrix = np.array([[float(v) for v in row.split()] for row in value.split(";")], np.float64)
            except ValueError:
                matrix = np.zeros(0)
            if matrix.shape == (3, 3) and abs(np.linalg.det(matrix)) > 0:
                return matrix
            raise InputError(f"{path}: the homography is not an invertible 3x3 matrix "
                             "('Homography matrix: a b c;d e f;g h i')")
    raise InputError(f"{path} has no 'Homography matrix:' line")


def image_to_world(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) pixel points -> (N, 2) GPS (latitude, longitude) through the inverse of the GPS -> pixel
    homography. Lens distortion of fisheye cameras is not undone."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    homogeneous = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ np.linalg.inv(homography).T
    return homogeneous[:, :2] / homogeneous[:, 2:3]
