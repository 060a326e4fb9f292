"""``--aic-export FILE`` of ``reid track``: the run's tracks as an AI City MTMC submission file."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _check_target(path: Path, inputs: list) -> None:
    """A folder, an input, or a file reid did not write is refused: the export replaces only an earlier one."""
    from reid.errors import OutputError
    from reid.output_files import is_aic_submission
    from reid.outputs import check_output_file

    if Path(path).is_dir():
        raise OutputError(f"--aic-export {path} is a folder", "name the submission file, e.g. --aic-export track1.txt")
    check_output_file(path, True, inputs, is_aic_submission, "AI City submission", "--aic-export")


def check_single_camera(path: Path, camera: str, inputs: list | None = None) -> None:
    """Refuse, before any tracking, an export that cannot be written or a camera name without a number."""
    from reid.multicam.aic import camera_number

    _check_target(path, inputs or [])
    camera_number(camera)


def check_folder_cameras(path: Path, source: Path, cameras_yaml: Path | None, inputs: list | None = None) -> None:
    """Refuse, before any tracking, an export that cannot be written or cameras whose names carry no number."""
    from reid.cameras import load_cameras
    from reid.multicam.aic import camera_numbers
    from reid.multicam.discover import CAMERAS_YAML, discover_cameras

    _check_target(path, [source, cameras_yaml, *(inputs or [])])
    path = Path(cameras_yaml) if cameras_yaml is not None else Path(source) / CAMERAS_YAML
    cams = load_cameras(path) if path.is_file() else None
    only = sorted(cams.cameras) if cams is not None and cams.cameras else None
    camera_numbers(discover_cameras(source, only).names)


def export_folder_run(path: Path, result: Any) -> None:
    """Export a camera-folder run (a :class:`reid.multicam.runner.MultiCamResult`): its global-id MOT files,
    with the world position from each CityFlow camera's ``calibration.txt`` where there is one."""
    from reid.multicam.cityflow import layout_camera

    mot = {cam.name: Path(result.mot_dir) / f"{cam.name}.txt" for cam in result.cameras}
    calibrations = {}
    for cam in result.cameras:
        layout = layout_camera(Path(cam.source).parent)
        calibrations[cam.name] = layout.calibration if layout is not None else None
    export_submission(path, mot, calibrations)


def export_submission(path: Path, mot_files: dict[str, Path], calibrations: dict[str, Path | None]) -> None:
    from reid.multicam.aic import write_submission

    from .common import console

    rows = write_submission(path, mot_files, calibrations)
    with_world = sum(1 for c in calibrations.values() if c is not None)
    console.print(f"AI City submission: {path} ({rows} rows, {len(mot_files)} cameras, world positions from "
                  f"{with_world} calibration file{'s' if with_world != 1 else ''})")
