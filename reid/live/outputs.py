"""What a live run writes while it goes, all from the one process that owns identities (the driver).

- ``events.jsonl``: one line per tracklet event, in the order global ids were given;
- ``mot/<camera>.txt``: MOTChallenge rows with global ids, appended for every emitted tracklet (rows of one
  event are in frame order; rows of different tracks interleave in emission order);
- ``status.json``: per camera ``connected``, ``fps_in``, ``fps_processed``, ``frames_dropped``,
  ``reconnects``, ``last_frame_time``, ``state``, rewritten atomically at most once per ``status_every``;
- ``live.json``: the run's manifest (sources, the shared clock's epoch, the sessions, and per camera the next
  free local id and frame number), which lets the same command continue the run;
- ``report.html``: built from ``events.jsonl`` and the crops on disk, at shutdown and on SIGUSR1.

Appends are flushed at once and synced to disk every second, so a crash loses at most the last second.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from reid.errors import OutputError
from reid.identities import identity_entries
from reid.io import atomic_write_json, open_for_writing
from reid.outputs import checked_component

LIVE_MANIFEST = "live.json"
EVENTS = "events.jsonl"
FORMAT = "reid-live"
VERSION = 1


class AppendLog:
    """Append-only text files kept open, flushed per write, fsynced at most once per ``sync_every`` seconds."""

    def __init__(self, sync_every: float = 1.0) -> None:
        self.sync_every = sync_every
        self._files: dict[Path, IO[str]] = {}
        self._last_sync = time.monotonic()

    def write(self, path: Path, text: str) -> None:
        handle = self._files.get(path)
        if handle is None:
            handle = self._files[path] = open_for_writing(path, "a")
        handle.write(text)
        handle.flush()
        if time.monotonic() - self._last_sync >= self.sync_every:
            self.sync()

    def sync(self) -> None:
        for handle in self._files.values():
            os.fsync(handle.fileno())
        self._last_sync = time.monotonic()

    def close(self) -> None:
        self.sync()
        for handle in self._files.values():
            handle.close()
        self._files.clear()


class LiveOutputs:
    """The writers of one live output folder."""

    def __init__(self, out: Path, status_every: float = 1.0) -> None:
        self.out = out
        self.log = AppendLog()
        self.status: dict[str, dict[str, Any]] = {}
        self.status_every = status_every
        self._status_written = 0.0
        self.events = 0

    def event(self, record: dict[str, Any]) -> None:
        self.log.write(self.out / EVENTS, json.dumps(record) + "\n")
        self.events += 1

    def mot_rows(self, camera: str, global_id: int, boxes: np.ndarray) -> None:
        """Append the rows of one event (``boxes``: (N, 6) ``frame, x1, y1, x2, y2, score``, frame 0-based)."""
        if len(boxes) == 0:
            return
        lines = [f"{int(f) + 1},{global_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{s:.4f},-1,-1,-1\n"
                 for f, x1, y1, x2, y2, s in sorted(boxes.tolist())]
        self.log.write(self.out / "mot" / f"{checked_component(camera)}.txt", "".join(lines))

    def camera_status(self, camera: str, entry: dict[str, Any], force: bool = False) -> None:
        self.status[camera] = {**self.status.get(camera, {}), **entry}
        now = time.monotonic()
        if force or now - self._status_written >= self.status_every:
            self.write_status()

    def write_status(self, running: bool = True) -> None:
        self._status_written = time.monotonic()
        states = [c.get("state") for c in self.status.values()]
        atomic_write_json(self.out / "status.json", {
            "cameras": self.status, "running": running, "pid": os.getpid(),
            "complete": bool(states) and all(s in ("complete", "ended") for s in states)})

    def close(self) -> None:
        self.log.close()


def repair_events(out: Path) -> str | None:
    """Cut a torn last line (a crash in the middle of a write) off ``events.jsonl`` before a run appends to it;
    returns a warning when something was cut."""
    path = out / EVENTS
    if not path.is_file():
        return None
    data = path.read_bytes()
    keep = data[: data.rfind(b"\n") + 1]  # everything up to the last newline; the rest is a partial line
    lines = keep.splitlines()
    if lines and not _parses(lines[-1]):  # a line cut short and then ended (another writer's newline)
        keep = keep[: len(keep) - len(lines[-1]) - 1]
    if keep == data:
        return None
    from reid.io import atomic_write

    with atomic_write(path, "wb") as handle:
        handle.write(keep)
    return f"{path}: the last line was cut off by an earlier crash and was removed ({len(data) - len(keep)} bytes)"


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return True


def read_events(out: Path) -> list[dict[str, Any]]:
    """The lines of ``events.jsonl`` (a torn last line from a crash is skipped)."""
    path = out / EVENTS
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def report_document(out: Path, gallery: Path, cameras: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The identities document of the run so far (the ``identities.json`` format), from ``events.jsonl``."""
    by_track: dict[tuple[str, int], dict[str, Any]] = {}
    for e in read_events(out):
        key = (e["camera"], int(e["track_id"]))
        by_track[key] = {**by_track.get(key, {}), **e}  # the latest emission of a track wins
    by_id: dict[int, list[dict[str, Any]]] = {}
    known: set[int] = set()
    for (camera, track_id), e in by_track.items():
        gid = int(e["global_id"])
        if e.get("known_before"):
            known.add(gid)
        by_id.setdefault(gid, []).append({
            "camera": camera, "track_id": track_id, "t_start": e["t_start"], "t_end": e["t_end"],
            "first_frame": e.get("first_frame", 0) + 1, "last_frame": e.get("last_frame", 0) + 1,
            "num_boxes": e.get("num_boxes", 0), "crops": e.get("crops", [])})
    identities = identity_entries(by_id, known)
    return {"format": "reid-identities", "version": 1, "run": "live", "source": str(out), "gallery": str(gallery),
            "cameras": cameras, "identities": identities}


def load_manifest(out: Path) -> dict[str, Any] | None:
    path = out / LIVE_MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise OutputError(f"{path} is corrupt: {exc}", "pass --overwrite to start the live run again") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise OutputError(f"{path} is not a reid live manifest", "choose another --out")
    return data


def save_manifest(out: Path, data: dict[str, Any]) -> None:
    atomic_write_json(out / LIVE_MANIFEST, data)


def written_since(out: Path, events_offset: int, mot_offsets: dict[str, int]) -> dict[str, dict[str, int]]:
    """Per camera, the largest local id and the next frame number a session wrote, read from what it appended
    to ``events.jsonl`` and ``mot/<camera>.txt`` after the offsets it recorded when it started: the counters of
    a session that died before it could save them (a restart must not give its ids again)."""
    found: dict[str, dict[str, int]] = {}
    path = out / EVENTS
    if path.is_file():
        with open(path, "rb") as handle:
            handle.seek(min(int(events_offset), path.stat().st_size))
            for line in handle:
                try:
                    e = json.loads(line)
                    camera, track = str(e["camera"]), int(e["track_id"])
                except (ValueError, KeyError, TypeError):
                    continue  # a torn or foreign line: repair_events cut the last one already
                entry = found.setdefault(camera, {"next_id": 0, "next_frame": 0})
                entry["next_id"] = max(entry["next_id"], track)
    mot = out / "mot"
    for camera, offset in mot_offsets.items():
        file = mot / f"{checked_component(camera)}.txt"
        if not file.is_file():
            continue
        with open(file, "rb") as handle:
            handle.seek(min(int(offset), file.stat().st_size))
            for line in handle:
                head = line.split(b",", 1)[0]
                if head.isdigit():
                    entry = found.setdefault(camera, {"next_id": 0, "next_frame": 0})
                    entry["next_frame"] = max(entry["next_frame"], int(head))  # MOT frames are 1-based
    return found


def session_alive(session: dict[str, Any], status_file: Path, fresh: float = 30.0) -> bool:
    """Whether the session that wrote ``session`` (a ``live.json`` entry with no end) still runs: its process
    on this machine, or, on another machine, a ``status.json`` it rewrote in the last ``fresh`` seconds (a live
    run rewrites it every second)."""
    import socket

    if session.get("ended") is not None:
        return False
    pid, host = session.get("pid"), session.get("host")
    if host == socket.gethostname() and isinstance(pid, int):
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # a process of another user holds the pid: treat it as running
        # the pid exists; it may have been reused since, so ask the status file too
    try:
        return time.time() - status_file.stat().st_mtime < fresh
    except OSError:
        return False
