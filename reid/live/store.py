"""Writing a live run into the gallery: one transaction per tracklet event, the driver as the one writer.

The run (one live session) is a row of ``runs``; each track is one row of ``tracklets``, inserted at its first
emission and updated by later ones (a long stay), so the gallery always holds the newest vector of every
track. A new identity is inserted in the same transaction as its first tracklet; if another process took
that id meanwhile, the identity gets the next free id inside the transaction, and the caller publishes that
one. The faiss index is derived from the database: it is rebuilt when the session closes (and on the next
open if the process died before).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from reid.engine.messages import TrackletEvent


class LiveStore:
    """The gallery side of a live session."""

    def __init__(self, gallery: Any, run_key: str, source: str, cameras: dict[str, dict[str, Any]]) -> None:
        self.gallery = gallery
        self.store = gallery.store
        self.run_key = run_key
        self.source = source
        self.cameras = cameras
        self.run_id: int | None = None
        self.rows: dict[tuple[str, int], int] = {}  # (camera, track_id) -> tracklet row id
        self.dirty = False

    def _begin_run(self) -> int:
        conn = self.store.conn
        now = time.time()
        cur = conn.execute("INSERT INTO runs(key, source, created) VALUES (?, ?, ?)", (self.run_key, self.source, now))
        for name, info in self.cameras.items():
            conn.execute("INSERT INTO cameras(name, fps, start_time) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
                         (name, info.get("fps"), float(info.get("start_time", 0.0))))
        return int(cur.lastrowid)

    def record(self, e: TrackletEvent, global_id: int, new: bool) -> int:
        """Store event ``e`` under ``global_id`` (a new identity when ``new``); returns the id actually stored."""
        with self.store.conn:  # one transaction
            if self.run_id is None:
                self.run_id = self._begin_run()
            conn = self.store.conn
            if new:
                taken = conn.execute("SELECT 1 FROM identities WHERE id = ?", (int(global_id),)).fetchone()
                if taken:
                    global_id = int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM identities").fetchone()[0]) + 1
                conn.execute("INSERT INTO identities(id, run_id, created) VALUES (?, ?, ?)",
                             (int(global_id), self.run_id, time.time()))
            camera_id = conn.execute("SELECT id FROM cameras WHERE name = ?", (e.camera,)).fetchone()[0]
            feature = np.ascontiguousarray(e.feature, dtype=np.float32).tobytes()
            values = (int(e.cls), int(e.first_frame), int(e.last_frame), float(e.t_start), float(e.t_end),
                      int(e.num_boxes), int(global_id), json.dumps([str(Path(p)) for p in e.crops]), feature)
            key = (e.camera, int(e.track_id))
            if key in self.rows:
                conn.execute("UPDATE tracklets SET cls=?, first_frame=?, last_frame=?, t_start=?, t_end=?, "
                             "num_boxes=?, identity_id=?, crops=?, feature=? WHERE id=?", (*values, self.rows[key]))
            else:
                cur = conn.execute(
                    "INSERT INTO tracklets(run_id, camera_id, track_id, cls, first_frame, last_frame, t_start, "
                    "t_end, num_boxes, identity_id, crops, feature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (self.run_id, camera_id, int(e.track_id), *values))
                self.rows[key] = int(cur.lastrowid)
        self.dirty = True
        return int(global_id)

    def close(self) -> None:
        """Bring the index up to date with this session's rows."""
        if self.dirty:
            self.gallery.rebuild_index()
            self.dirty = False
