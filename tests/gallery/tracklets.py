"""Stored tracklets with random unit vectors, shared by the gallery tests."""

from __future__ import annotations

import numpy as np

from reid.gallery.store import StoredTracklet

DIM = 8


def rows(n: int, camera: str, identity_start: int, seed: int = 0) -> list[StoredTracklet]:
    """``n`` tracklets of ``camera`` (track ids 1..n), each its own identity from ``identity_start`` on."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = rng.standard_normal(DIM).astype(np.float32)
        out.append(StoredTracklet(row_id=-1, camera=camera, track_id=i + 1, cls=2, first_frame=1, last_frame=10,
                                  t_start=float(i), t_end=float(i) + 1, num_boxes=10, identity=identity_start + i,
                                  run="", crops=[f"crops/{camera}_{i}.jpg"], feature=v / np.linalg.norm(v)))
    return out
