"""MOTChallenge text files: the one reader, writer and validator every command uses.

The rules (also in ``docs/protocols.md``):

- **Rows.** ``frame, id, left, top, width, height, conf, x, y, z``, comma-separated (whitespace-separated files
  are read too). At least six values; a missing 7th value counts as 1. Values past the 7th (MOTChallenge's class
  and visibility, or world coordinates) are read past and never used: every box is a vehicle.
- **Frames** are 1-based: frame 1 is the first frame of the video. A frame below 1 is refused, since a file
  that counts from 0 would otherwise be scored one frame off without a word.
- **Pixels.** The project writes 0-based pixel coordinates (the left column of the image is x = 0), the
  convention of the detectors and trackers; MOTChallenge's own ground truth counts from 1. Scores compare boxes
  by IoU, so the convention matters only when the two files differ (then by under a pixel); nothing is shifted.
- **Ignore rows.** In ground truth a row whose 7th value is 0 means "do not consider" (MOTChallenge's
  zero-marked rows): reading truth (``truth=True``) drops it, so it counts neither as a miss nor as a hit, and a
  predicted box on it is scored like any unmatched box. This is what TrackEval's MOTChallenge reader and
  py-motmetrics' MOTChallenge loader do. In predictions the 7th value is the confidence and every row counts.
- **Ids** are integers, at most once per frame in a file; boxes have a finite, non-negative width and height.

Written files are ``frame,id,left,top,width,height,conf,-1,-1,-1`` sorted by frame then id, atomically, with
numbers at two decimals (confidence four) and trailing zeros dropped, so integer boxes stay integers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from reid.errors import InputError
from reid.io import atomic_write

COLUMNS = ("frame", "id", "left", "top", "width", "height", "conf")
IGNORE_COLUMN = 6  # 0-based index of the 7th value: 0 marks an ignore row in ground truth


def read_mot(path: str | Path, truth: bool = False) -> np.ndarray:
    """Rows ``frame, id, left, top, width, height, conf`` of a MOT file as (N, 7) float64, in file order.

    ``truth=True`` reads ground truth: ignore rows (7th value 0) are dropped. Every rule of the module docstring
    is checked; a broken row is an :class:`InputError` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"MOT file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read MOT file {path}: {exc}") from exc
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            rows.append(parse_row(path, number, line))
    data = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    check_unique(path, data)
    if truth:
        data = data[data[:, IGNORE_COLUMN] != 0]
    return data


def parse_row(path: Path, number: int, line: str) -> list[float]:
    """The seven values of one MOT line, checked; errors name ``path`` and line ``number``."""
    parts = line.split(",") if "," in line else line.split()
    where = f"{path} line {number}"
    try:
        values = [float(p) for p in parts[:7]]
    except ValueError:
        raise InputError(f"{where} is not a MOT row (frame, id, left, top, width, height, ...): {line[:60]!r}") from None
    if len(values) < 6:
        raise InputError(f"{where} has {len(values)} values; a MOT row needs at least 6 "
                         "(frame, id, left, top, width, height)")
    if len(values) == 6:
        values.append(1.0)
    if not all(np.isfinite(values)):
        raise InputError(f"{where} holds a value that is not a finite number: {line[:60]!r}")
    frame, tid, _, _, width, height = values[:6]
    if frame != int(frame) or tid != int(tid):
        raise InputError(f"{where}: frame and id must be integers, got {parts[0].strip()} and {parts[1].strip()}")
    if frame < 1:
        raise InputError(f"{where}: frame {int(frame)} is below 1; MOT frames count from 1",
                         "add 1 to every frame number of a file that counts from 0")
    if width < 0 or height < 0:
        raise InputError(f"{where}: a box has a negative width or height ({width:g} x {height:g})")
    return values


def check_unique(path: Path, data: np.ndarray) -> None:
    """Refuse a file in which one id has two boxes in one frame."""
    if len(data) < 2:
        return
    pairs = data[:, :2].astype(np.int64)
    _, first, counts = np.unique(pairs, axis=0, return_index=True, return_counts=True)
    if counts.max() > 1:
        frame, tid = pairs[first[np.argmax(counts)]]
        raise InputError(f"{path}: id {tid} appears {counts.max()} times in frame {frame}; an id is one box per frame")


def _num(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def mot_line(frame: int, track_id: int, left: float, top: float, width: float, height: float,
             conf: float = 1.0) -> str:
    """One MOTChallenge line (with its newline) in the project's number format."""
    box = ",".join(_num(float(v), 2) for v in (left, top, width, height))
    return f"{int(frame)},{int(track_id)},{box},{_num(float(conf), 4)},-1,-1,-1\n"


def write_mot(path: str | Path, rows: Iterable[tuple[float, ...]]) -> int:
    """Write ``(frame, id, left, top, width, height[, conf])`` rows as a MOT file, atomically; returns the count.

    Rows arrive in frame order (as a spool or another MOT file gives them) and are streamed: only one frame is
    held at a time, and the rows of a frame are written sorted by id.
    """
    count = 0
    with atomic_write(path) as out:
        current: int | None = None
        pending: list[tuple[int, str]] = []
        for row in rows:
            frame, tid = int(row[0]), int(row[1])
            if frame < 1:
                raise ValueError(f"MOT frame {frame} is below 1 (frames count from 1)")
            if frame != current:
                if current is not None and frame < current:
                    raise ValueError(f"MOT rows out of frame order: frame {frame} after {current}")
                out.writelines(line for _, line in sorted(pending))
                pending, current = [], frame
            pending.append((tid, mot_line(frame, tid, *row[2:7])))
            count += 1
        out.writelines(line for _, line in sorted(pending))
    return count


def camera_files(folder: str | Path, what: str, flag: str) -> dict[str, Path]:
    """``{camera: MOT file}`` of a folder, in the layouts the commands produce and read.

    Tried in order: ``<camera>.txt`` directly inside; a ``mot/`` folder of them (a ``reid track`` output
    folder); a ``gt/`` folder of them (a ``reid synth scene`` folder); ``<camera>/gt/gt.txt`` (a CityFlow /
    AI City scenario folder such as ``S02/``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{what} folder {folder} does not exist", f"check {flag}")
    for sub in (folder, folder / "mot", folder / "gt"):
        files = {p.stem: p for p in sorted(sub.glob("*.txt")) if p.is_file()} if sub.is_dir() else {}
        if files:
            return files
    nested = {p.parent.parent.name: p for p in sorted(folder.glob("*/gt/gt.txt")) if p.is_file()}
    if nested:
        return nested
    raise InputError(f"{what} folder {folder} holds no MOT files (<camera>.txt, mot/, gt/ or <camera>/gt/gt.txt)",
                     f"check {flag}")
