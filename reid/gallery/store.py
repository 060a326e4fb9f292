"""The SQLite side of the gallery: cameras, runs, tracklets (with their vectors), identities and a meta table.

WAL mode lets a reader (``reid gallery info``/``search``) look at the gallery while a run writes to it, and a
crash mid-write leaves the last committed state. The meta table names the file format, the embedding dimension
and the identity of the embedding network, so that a gallery is never mixed with vectors of another network.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reid.errors import GalleryError

FORMAT_NAME = "reid-gallery"
FORMAT_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, source TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cameras (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, fps REAL, start_time REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS identities (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tracklets (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    camera_id INTEGER NOT NULL REFERENCES cameras(id),
    track_id INTEGER NOT NULL,
    cls INTEGER NOT NULL,
    first_frame INTEGER NOT NULL,
    last_frame INTEGER NOT NULL,
    t_start REAL NOT NULL,
    t_end REAL NOT NULL,
    num_boxes INTEGER NOT NULL,
    identity_id INTEGER NOT NULL REFERENCES identities(id),
    crops TEXT NOT NULL,
    feature BLOB NOT NULL,
    UNIQUE (run_id, camera_id, track_id));
CREATE INDEX IF NOT EXISTS tracklets_identity ON tracklets(identity_id);
"""


@dataclass
class StoredTracklet:
    """One tracklet row. Times are absolute seconds (the camera's start time plus the time in its video)."""

    row_id: int
    camera: str
    track_id: int
    cls: int
    first_frame: int
    last_frame: int
    t_start: float
    t_end: float
    num_boxes: int
    identity: int
    run: str
    crops: list[str] = field(default_factory=list)
    feature: np.ndarray | None = None


class GalleryStore:
    """A connection to ``gallery.sqlite`` with the few queries the gallery needs."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    # -- open ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, create: bool) -> GalleryStore:
        """Open an existing store (checking it is one), or create a new one when ``create`` is set."""
        path = Path(path)
        exists = path.exists()
        if not exists and not create:
            raise GalleryError(f"gallery database {path} does not exist", "check --gallery")
        if exists:
            with open(path, "rb") as handle:
                header = handle.read(16)
            if header and header != b"SQLite format 3\x00":
                raise GalleryError(f"{path} is not a SQLite database, so not a reid gallery", "check --gallery")
        try:
            conn = sqlite3.connect(path, timeout=30.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"gallery database {path} is corrupt or unreadable: {exc}", "check --gallery") from exc
        store = cls(path, conn)
        if exists and path.stat().st_size > 0:
            store._check_format()
        else:
            with conn:
                conn.executescript(SCHEMA)
                conn.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [("format", FORMAT_NAME), ("version", str(FORMAT_VERSION)), ("created", str(time.time()))],
                )
        return store

    def _check_format(self) -> None:
        try:
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            meta = dict(self.conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"gallery database {self.path} is corrupt: {exc}", "check --gallery") from exc
        if meta.get("format") != FORMAT_NAME:
            raise GalleryError(
                f"{self.path} is a SQLite database of another program, not a reid gallery",
                "point --gallery at a reid gallery folder or at a new folder",
            )
        version = int(meta.get("version", "0"))
        if version != FORMAT_VERSION:
            raise GalleryError(
                f"gallery {self.path} has format version {version}, this reid reads version {FORMAT_VERSION}",
                "build a new gallery with this version",
            )
        missing = {"runs", "cameras", "identities", "tracklets"} - tables
        if missing:
            raise GalleryError(f"gallery database {self.path} is damaged (missing tables: {', '.join(sorted(missing))})")

    def close(self) -> None:
        self.conn.close()

    @property
    def journal_mode(self) -> str:
        return str(self.conn.execute("PRAGMA journal_mode").fetchone()[0])

    # -- meta ---------------------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta"))

    def set_meta(self, values: dict[str, str]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                list(values.items()),
            )

    # -- queries ------------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("runs", "cameras", "identities", "tracklets"):
            out[table] = int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        return out

    def run_exists(self, key: str) -> bool:
        return self.conn.execute("SELECT 1 FROM runs WHERE key=?", (key,)).fetchone() is not None

    def cameras(self) -> dict[str, dict]:
        rows = self.conn.execute("SELECT name, fps, start_time FROM cameras ORDER BY name")
        return {name: {"fps": fps, "start_time": start} for name, fps, start in rows}

    def max_identity(self) -> int:
        value = self.conn.execute("SELECT MAX(id) FROM identities").fetchone()[0]
        return int(value or 0)

    def tracklets(self, with_features: bool = True, ids: Iterable[int] | None = None,
                  run: str | None = None) -> list[StoredTracklet]:
        """Tracklet rows (all, those with the given row ids, or those of one run), ordered by row id."""
        cols = ("t.id, c.name, t.track_id, t.cls, t.first_frame, t.last_frame, t.t_start, t.t_end, t.num_boxes, "
                "t.identity_id, r.key, t.crops" + (", t.feature" if with_features else ""))
        sql = (f"SELECT {cols} FROM tracklets t JOIN cameras c ON c.id=t.camera_id JOIN runs r ON r.id=t.run_id")
        params: list = []
        if ids is not None:
            id_list = [int(i) for i in ids]
            if not id_list:
                return []
            sql += f" WHERE t.id IN ({','.join('?' * len(id_list))})"
            params = id_list
        elif run is not None:
            sql += " WHERE r.key=?"
            params = [run]
        sql += " ORDER BY t.id"
        out = []
        for row in self.conn.execute(sql, params):
            feature = np.frombuffer(row[12], dtype=np.float32).copy() if with_features else None
            out.append(StoredTracklet(
                row_id=row[0], camera=row[1], track_id=row[2], cls=row[3], first_frame=row[4], last_frame=row[5],
                t_start=row[6], t_end=row[7], num_boxes=row[8], identity=row[9], run=row[10],
                crops=json.loads(row[11]), feature=feature,
            ))
        return out

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All (row ids (N,), vectors (N, D)) to rebuild the faiss index from."""
        ids, vecs = [], []
        for row_id, blob in self.conn.execute("SELECT id, feature FROM tracklets ORDER BY id"):
            ids.append(row_id)
            vecs.append(np.frombuffer(blob, dtype=np.float32))
        if not vecs:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.asarray(ids, np.int64), np.vstack(vecs)

    # -- writes -------------------------------------------------------------------------------------------
    def add_run(self, key: str, source: str, cameras: dict[str, dict], rows: list[StoredTracklet],
                new_identities: Iterable[int]) -> list[int]:
        """Add one run in a single transaction: its cameras, its new identities and its tracklets.

        Returns the row ids given to ``rows`` (in order). All or nothing: a crash in here leaves the gallery
        as it was before the run.
        """
        now = time.time()
        with self.conn:
            cur = self.conn.execute("INSERT INTO runs(key, source, created) VALUES (?, ?, ?)", (key, source, now))
            run_id = cur.lastrowid
            for name, info in cameras.items():
                self.conn.execute(
                    "INSERT INTO cameras(name, fps, start_time) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
                    (name, info.get("fps"), float(info.get("start_time", 0.0))),
                )
            cam_ids = dict(self.conn.execute("SELECT name, id FROM cameras"))
            self.conn.executemany(
                "INSERT INTO identities(id, run_id, created) VALUES (?, ?, ?)",
                [(int(i), run_id, now) for i in sorted(set(new_identities))],
            )
            row_ids = []
            for r in rows:
                feature = np.ascontiguousarray(r.feature, dtype=np.float32)
                cur = self.conn.execute(
                    "INSERT INTO tracklets(run_id, camera_id, track_id, cls, first_frame, last_frame, t_start, t_end,"
                    " num_boxes, identity_id, crops, feature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, cam_ids[r.camera], int(r.track_id), int(r.cls), int(r.first_frame), int(r.last_frame),
                     float(r.t_start), float(r.t_end), int(r.num_boxes), int(r.identity), json.dumps(r.crops),
                     feature.tobytes()),
                )
                row_ids.append(int(cur.lastrowid))
        return row_ids
