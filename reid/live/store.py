"""Writing a live run into the gallery: one transaction per tracklet event, the driver as the one writer.

The run (one live session) is a row of ``runs``; each track is one row of ``tracklets``, inserted at its first
emission and updated by later ones (a long stay), so the gallery always holds the newest vector of every
track (:meth:`reid.gallery.store.GalleryStore.put_live_tracklet`). The write lock is taken per event, never for
the whole session, so other runs can write the same gallery meanwhile; a new identity whose id one of them
took gets the next free id, and the caller publishes that one. The faiss index is derived from the database:
it is rebuilt when the session closes (and on the next open, found stale by its digest, if the process died).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reid.engine.messages import TrackletEvent
from reid.gallery.store import StoredTracklet

LIVE_WRITER = "live_writer"  # meta key: the live session writing the gallery now (pid, host, run), or ""


def live_writer(store: Any) -> dict[str, Any] | None:
    """The live session that is writing the gallery now, if its process is still alive on this machine (or is
    on another machine, where it cannot be checked)."""
    import json
    import os
    import socket

    text = store.meta().get(LIVE_WRITER, "")
    if not text:
        return None
    try:
        info = json.loads(text)
        if info.get("host") == socket.gethostname():
            os.kill(int(info["pid"]), 0)
    except ProcessLookupError:
        return None  # the session died without saying so: not writing any more
    except (ValueError, TypeError, KeyError, OSError):
        return None
    return info


class LiveStore:
    """The gallery side of a live session."""

    def __init__(self, gallery: Any, run_key: str, source: str, cameras: dict[str, dict[str, Any]],
                 on_wait: Any = None) -> None:
        self.gallery = gallery
        self.run_key = run_key
        self.source = source
        self.cameras = cameras
        self.on_wait = on_wait
        self.rows: dict[tuple[str, int], int] = {}  # (camera, track_id) -> tracklet row id
        self.dirty = False

    def record(self, e: TrackletEvent, global_id: int, new: bool) -> int:
        """Store event ``e`` under ``global_id`` (a new identity when ``new``); returns the id actually stored."""
        key = (e.camera, int(e.track_id))
        row = StoredTracklet(row_id=-1, camera=e.camera, track_id=int(e.track_id), cls=int(e.cls),
                             first_frame=int(e.first_frame), last_frame=int(e.last_frame), t_start=float(e.t_start),
                             t_end=float(e.t_end), num_boxes=int(e.num_boxes), identity=int(global_id),
                             run=self.run_key, crops=[str(Path(p)) for p in e.crops], feature=e.feature)
        row_id, identity = self.gallery.store.put_live_tracklet(
            self.run_key, self.source, self.cameras, row, new, self.rows.get(key), self.on_wait)
        self.rows[key] = row_id
        self.dirty = True
        return identity

    def announce(self) -> None:
        """Record in the gallery that this process writes it live (relinking it meanwhile would change ids the
        live run keeps using)."""
        import json
        import os
        import socket
        import time

        self.gallery.store.set_meta({LIVE_WRITER: json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                                              "run": self.run_key, "started": time.time()})})

    def retire(self) -> None:
        """The live session is over: the gallery may be relinked."""
        self.gallery.store.set_meta({LIVE_WRITER: ""})

    def forget(self, camera: str, track_id: int) -> None:
        """The track has ended: no later emission will update its row (memory stays flat)."""
        self.rows.pop((camera, int(track_id)), None)

    def close(self) -> None:
        """Bring the index up to date with this session's rows."""
        if self.dirty:
            self.gallery.rebuild_index()
            self.dirty = False
