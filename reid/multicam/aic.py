"""The AI City Challenge MTMC submission file: all cameras of a run in one text file.

One line per box, space-separated::

    camera_id obj_id frame_id xmin ymin width height xworld yworld

``camera_id`` is the camera's number (``c006`` -> 6), ``obj_id`` the global identity, ``frame_id`` the 1-based
frame of that camera's video, the box in integer pixels, and ``xworld yworld`` the GPS position (latitude,
longitude) of the box's bottom centre where the camera has a ``calibration.txt`` (its homography maps GPS to
pixels), else ``-1 -1``. The challenge does not score the world position. The challenge's ground-truth files
(``ground_truth_*.txt``) use the same format.

:func:`write_submission` turns a run's MOT files (read by :mod:`reid.motfile`) into this file;
:func:`read_submission` gives back ``{camera: rows}`` in :func:`reid.motfile.read_mot`'s columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from reid.errors import InputError, OutputError
from reid.io import atomic_write
from reid.motfile import check_unique, parse_row, read_mot

_NUMBER = re.compile(r"(\d+)$")


def camera_number(name: str) -> int:
    """The AI City camera id of a camera name: its trailing digits (``c006`` -> 6, ``cam2`` -> 2)."""
    found = _NUMBER.search(name)
    if found is None:
        raise InputError(f"camera {name!r} has no number, and an AI City file names cameras by number",
                         "name the camera folders or videos c001, c002, ... (or cam1, cam2, ...)")
    return int(found.group(1))


def camera_numbers(names: Iterable[str]) -> dict[str, int]:
    """``{name: AI City camera id}``; two cameras with one number are refused (their rows would merge)."""
    numbers: dict[str, int] = {}
    for name in names:
        number = camera_number(name)
        other = next((n for n, k in numbers.items() if k == number), None)
        if other is not None:
            raise InputError(f"cameras {other!r} and {name!r} have the same AI City camera id {number}",
                             "rename one of them")
        numbers[name] = number
    return numbers


def write_submission(path: str | Path, mot_files: Mapping[str, Path],
                     calibrations: Mapping[str, Path | None] | None = None) -> int:
    """Write the MOT files of a run (``{camera: mot/<camera>.txt}``, global ids) as one AI City file, atomically.

    Returns the number of lines. Cameras are written in camera-id order, each camera's rows by frame then id.
    """
    numbers = camera_numbers(mot_files)
    try:
        return _write_rows(path, mot_files, numbers, calibrations or {})
    except OSError as exc:
        raise OutputError(f"cannot write the AI City file {path}: {exc.strerror or exc}",
                          "check the path given to --aic-export") from exc


def _write_rows(path: str | Path, mot_files: Mapping[str, Path], numbers: Mapping[str, int],
                calibrations: Mapping[str, Path | None]) -> int:
    from reid.multicam.cityflow import image_to_world, read_homography

    count = 0
    with atomic_write(path) as out:
        for cam in sorted(mot_files, key=lambda c: numbers[c]):
            rows = read_mot(mot_files[cam])
            rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
            left, top = np.round(rows[:, 2]), np.round(rows[:, 3])
            width = np.round(rows[:, 2] + rows[:, 4]) - left
            height = np.round(rows[:, 3] + rows[:, 5]) - top
            calibration = calibrations.get(cam)
            if calibration is not None:
                feet = np.stack([rows[:, 2] + rows[:, 4] / 2, rows[:, 3] + rows[:, 5]], axis=1)
                world = [f"{a:.7f} {b:.7f}" for a, b in image_to_world(read_homography(calibration), feet)]
            else:
                world = ["-1 -1"] * len(rows)
            for k, row in enumerate(rows):
                out.write(f"{numbers[cam]} {int(row[1])} {int(row[0])} {int(left[k])} {int(top[k])} "
                          f"{int(width[k])} {int(height[k])} {world[k]}\n")
            count += len(rows)
    return count


def read_submission(path: str | Path, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """``{camera: (N, 7) rows frame, id, left, top, width, height, 1}`` of an AI City file.

    A camera id is given the name in ``names`` that carries its number (so ``6`` becomes ``c006`` when the
    ground truth calls it that), else ``c`` and three digits. Rows are checked by :mod:`reid.motfile`'s rules.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read AI City file {path}: {exc}") from exc
    by_number = {}
    for name in names or []:
        found = _NUMBER.search(name)
        if found is not None:
            by_number.setdefault(int(found.group(1)), name)
    grouped: dict[int, list[list[float]]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 7:
            raise InputError(f"{path} line {number} has {len(parts)} values; an AI City row is camera_id obj_id "
                             "frame_id xmin ymin width height xworld yworld")
        try:
            camera = int(parts[0])
        except ValueError:
            raise InputError(f"{path} line {number}: camera id {parts[0]!r} is not an integer") from None
        mot = ",".join([parts[2], parts[1], *parts[3:7], "1"])
        grouped.setdefault(camera, []).append(parse_row(path, number, mot))
    out = {}
    for camera, rows in sorted(grouped.items()):
        data = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
        check_unique(path, data)
        out[by_number.get(camera, f"c{camera:03d}")] = data
    return out
