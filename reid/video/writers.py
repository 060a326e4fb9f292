"""Outputs of one camera: MOT text, tracklets JSONL, the annotated video and the run status.

Per-frame boxes are spooled to ``mot/.<camera>.rows`` while the video is read (flat memory on long input);
at the end they are rewritten once, atomically, into ``mot/<camera>.txt`` with the final ids (rejoined pieces
under one id, noise tracks dropped). That MOT file is the compact per-frame record of a camera: the
cross-camera stage relabels it with global ids through :func:`relabel_mot`, and :func:`render_video` draws the
annotated video from it by reading the source a second time, so ids in the video always match the MOT file.

``status.json`` says, per camera, whether its outputs are complete; it is written as ``running`` before any
other output and only turned ``complete`` after everything else was written, so a crash or a broken input
never leaves outputs that look complete.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from reid.errors import InputError, OutputError
from reid.io import atomic_write, atomic_write_json, count_video_frames, open_for_writing
from reid.motfile import read_mot, write_mot  # the MOT file rules live in reid.motfile
from reid.outputs import checked_component, claim, free_space
from reid.types import Tracklet

STATUS_FILE = "status.json"
TRACKLETS_FILE = "tracklets.jsonl"


def mot_path(out_dir: Path, camera: str) -> Path:
    return Path(out_dir) / "mot" / f"{checked_component(camera)}.txt"


def video_path(out_dir: Path, camera: str) -> Path:
    return Path(out_dir) / "video" / f"{checked_component(camera)}.mp4"


class MotSpool:
    """Appends ``frame, id, left, top, width, height, conf`` rows to a hidden spool file as frames go by."""

    def __init__(self, final_path: Path) -> None:
        self.final_path = Path(final_path)
        self.path = self.final_path.with_name(f".{self.final_path.name}.rows")
        self._handle: IO[str] | None = open_for_writing(self.path)

    def write(self, frame_index: int, ids: np.ndarray, boxes: np.ndarray, scores: np.ndarray) -> None:
        assert self._handle is not None
        for tid, box, score in zip(ids, boxes, scores, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            self._handle.write(
                f"{frame_index + 1},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{float(score):.4f}\n"
            )

    def finish(self, mapping: Mapping[int, int]) -> int:
        """Write the final MOT file with ids mapped (ids missing from ``mapping`` are dropped); returns rows."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        with open(self.path, encoding="utf-8") as src:
            rows = write_mot(self.final_path, _map_rows(src, mapping))
        os.unlink(self.path)
        return rows

    def abort(self) -> None:
        """Stop without a MOT file (the run failed): the spool is removed, status.json tells what happened.

        Best effort: on a full disk even closing the spool can fail, and that must not hide the error that
        stopped the run."""
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None
        with contextlib.suppress(OSError):
            self.path.unlink()


def _map_rows(lines: Iterable[str], mapping: Mapping[int, int]) -> Iterable[tuple[float, ...]]:
    for line in lines:
        parts = line.strip().split(",")
        if len(parts) < 7:
            continue
        new = mapping.get(int(float(parts[1])))
        if new is None:
            continue
        yield (int(float(parts[0])), int(new), *(float(v) for v in parts[2:7]))


def relabel_mot(path: Path, mapping: Mapping[int, int], keep_unmapped: bool = True) -> int:
    """Rewrite a camera's MOT file in place (atomically) with ids from ``mapping`` (e.g. global ids).

    An id is one box per frame: when the mapping gives two boxes of one frame the same id (a what-if relabelling,
    such as the truth's ids for the linking ceiling or shuffled ids for chance), the first box is kept. The
    linker itself never does this (two tracklets of one camera that overlap in time are never one identity).
    """
    rows = read_mot(path)
    full = dict(mapping)
    if keep_unmapped:
        for tid in rows[:, 1].astype(int).tolist():
            full.setdefault(tid, tid)
    seen: set[tuple[int, int]] = set()

    def relabelled():  # type: ignore[no-untyped-def]
        for r in rows:
            tid = full.get(int(r[1]))
            if tid is None or (int(r[0]), tid) in seen:
                continue
            seen.add((int(r[0]), tid))
            yield (r[0], tid, *r[2:7])

    return write_mot(path, relabelled())


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR colour per id (golden-ratio hue steps)."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb((track_id * 0.618034) % 1.0, 0.85, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


class VideoAnnotator:
    """Draws boxes, ids and short trails, and writes the frames to an mp4 that appears only when finished."""

    def __init__(self, path: Path, fps: float, trail: int = 20) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.fps = fps
        self.trail = trail
        self._writer: Any = None
        self._frames = 0
        self._trails: dict[int, deque] = {}
        self._last_seen: dict[int, int] = {}

    def write(self, frame_index: int, image: np.ndarray, ids: np.ndarray, boxes: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            claim(self.path)
            claim(self.tmp)  # recorded, so that a crash's leftover is cleaned up as ours
            h, w = image.shape[:2]
            self._writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise OutputError(f"cannot write the annotated video {self.path}")
        canvas = image.copy()
        for tid, box in zip(ids, boxes, strict=True):
            tid = int(tid)
            colour = track_colour(tid)
            x1, y1, x2, y2 = (int(round(float(v))) for v in box)
            cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)
            cv2.putText(canvas, str(tid), (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 2)
            if self.trail:
                pts = self._trails.setdefault(tid, deque(maxlen=self.trail))
                pts.append(((x1 + x2) // 2, y2))
                self._last_seen[tid] = frame_index
                if len(pts) > 1:
                    cv2.polylines(canvas, [np.array(pts, np.int32).reshape(-1, 1, 2)], False, colour, 2)
        for tid in [t for t, f in self._last_seen.items() if frame_index - f > 5 * max(self.trail, 1)]:
            self._trails.pop(tid, None)
            self._last_seen.pop(tid, None)
        cv2.putText(
            canvas, f"frame {frame_index + 1}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1
        )
        self._writer.write(canvas)
        self._frames += 1

    def finish(self) -> None:
        """Close the video and move it into place, after checking that every frame reached the file.

        OpenCV's writer does not report failed writes (a full disk): a video whose frame count falls short is
        deleted and reported instead of being moved under its final name, where it would look complete.
        """
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            written = count_video_frames(self.tmp)
            if written < self._frames:
                self.abort()
                raise OutputError(
                    f"the annotated video {self.path} could not be written completely ({written} of "
                    f"{self._frames} frames reached the file; {free_space(self.path.parent)} free)",
                    "free some space or choose another --out; the camera is marked failed")
            os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Drop the partial video (best effort, as above)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.release()
            self._writer = None
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def render_video(
    source: Any,
    mot_file: Path,
    out_path: Path,
    trail: int = 20,
    progress: Callable[..., None] | None = None,
) -> Path:
    """Draw the boxes and ids of ``mot_file`` on the frames of ``source`` (a replayable FrameSource)."""
    rows = read_mot(mot_file)
    by_frame: dict[int, list[np.ndarray]] = {}
    for row in rows:
        by_frame.setdefault(int(row[0]), []).append(row)
    annotator = VideoAnnotator(out_path, source.fps / source.vid_stride, trail)
    try:
        for n, frame in enumerate(source, 1):
            found = by_frame.get(frame.index + 1, [])
            ids = np.array([r[1] for r in found], np.int64)
            boxes = np.array([[r[2], r[3], r[2] + r[4], r[3] + r[5]] for r in found], np.float32).reshape(
                -1, 4
            )
            annotator.write(frame.index, frame.image, ids, boxes)
            if progress is not None:
                progress(n, source.expected_outputs, stage="video")
        annotator.finish()
    except BaseException:
        annotator.abort()
        raise
    return out_path


def tracklet_record(t: Tracklet, names: Mapping[int, str] | None = None) -> dict[str, Any]:
    """One JSON line of ``tracklets.jsonl``."""
    return {
        "camera": t.camera,
        "id": t.track_id,
        "class": (names or {}).get(t.cls, str(t.cls)),
        "class_id": t.cls,
        "first_frame": t.first_frame + 1,
        "last_frame": t.last_frame + 1,
        "first_time": round(t.first_time, 4),
        "last_time": round(t.last_time, 4),
        "num_boxes": t.num_boxes,
        "crops": t.crop_paths,
    }


def update_tracklets_jsonl(path: Path, camera: str, records: list[dict[str, Any]]) -> None:
    """Replace this camera's lines of ``tracklets.jsonl`` (other cameras' lines are kept), atomically."""
    path = Path(path)
    kept: list[str] = []
    if path.is_file():
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    if json.loads(line).get("camera") != camera:
                        kept.append(line.rstrip("\n"))
                except json.JSONDecodeError:
                    continue
    with atomic_write(path) as out:
        for line in kept:
            out.write(line + "\n")
        for record in records:
            out.write(json.dumps(record) + "\n")


def running_entry(source: str) -> dict[str, Any]:
    """A ``running`` status entry that names this process, so that a reader can tell a run that still goes
    from one whose process died (see :func:`read_status`)."""
    import socket

    return {"state": "running", "source": source, "pid": os.getpid(), "host": socket.gethostname()}


def _interrupted(entry: dict[str, Any]) -> bool:
    """A ``running`` entry of a process of this machine that no longer exists: the run was killed."""
    import socket

    if entry.get("state") != "running" or entry.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(entry.get("pid", -1)), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError, TypeError):
        return False
    return False


def update_status(out_dir: Path, camera: str, entry: dict[str, Any]) -> None:
    """Set this camera's entry in ``status.json`` (atomically; other cameras' entries are kept)."""
    path = Path(out_dir) / STATUS_FILE
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, OSError):
            data = {}
    cameras = data.setdefault("cameras", {})
    cameras[camera] = entry
    data["complete"] = all(c.get("state") == "complete" for c in cameras.values())
    atomic_write_json(path, data)


def read_status(out_dir: Path) -> dict[str, Any]:
    """``status.json`` of an output folder (empty dict when there is none).

    A camera left ``running`` by a process that no longer exists (killed, or the machine lost power) is
    reported as ``interrupted``: nothing can finish it any more.
    """
    path = Path(out_dir) / STATUS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is corrupt: {exc}") from exc
    for entry in data.get("cameras", {}).values():
        if isinstance(entry, dict) and _interrupted(entry):
            entry["state"] = "interrupted"
    return data
