"""Flows: which way a vehicle moved through a camera's view, learned per camera without labels.

Traffic through one fixed camera runs in a few directions (two lanes of a road, in and out of a gate), and a
vehicle that leaves one camera in one direction reaches the next camera's view in a particular direction too.
So the travel windows between cameras are really windows between *flows*, and a vehicle seen moving one way in
camera A and the "wrong" way in camera B is, most of the time, two vehicles. Linking learns which flows connect
(:mod:`reid.gallery.travel`); this module says which flow each tracklet belongs to.

A tracklet's motion is its box centre's displacement from its first quarter of boxes to its last (as a unit
direction) and the log-ratio of its box sizes (vehicles approaching a camera grow). The tracklets of one
camera are split along the principal axis of those motions into two flows; a camera with too few moving
tracklets gets none, and a tracklet that hardly moved stays without a flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

Motion = tuple[float, float, float]  # unit (dx, dy) of the box centre, log(size at the end / size at the start)


def track_motions(mot_file: str | Path, min_boxes: int = 3) -> dict[int, Motion]:
    """``{track_id: motion}`` of every track of a MOT file with at least ``min_boxes`` boxes that moved at least
    a fifth of its box size (see the module docstring)."""
    from reid.evaluation.mtmc import read_mot

    rows = read_mot(mot_file)
    out: dict[int, Motion] = {}
    if not len(rows):
        return out
    rows = rows[np.lexsort((rows[:, 0], rows[:, 1]))]
    ids, starts = np.unique(rows[:, 1].astype(np.int64), return_index=True)
    for tid, lo, hi in zip(ids, starts, list(starts[1:]) + [len(rows)], strict=True):
        r = rows[lo:hi]
        if len(r) < min_boxes:
            continue
        k = max(1, len(r) // 4)
        centre = r[:, 2:4] + r[:, 4:6] / 2
        size = np.sqrt(np.maximum(r[:, 4] * r[:, 5], 1.0))
        d = centre[-k:].mean(axis=0) - centre[:k].mean(axis=0)
        growth = float(np.log(size[-k:].mean() / size[:k].mean()))
        norm = float(np.linalg.norm(d))
        if norm < 0.2 * float(size.mean()) and abs(growth) < 0.2:
            continue
        unit = d / norm if norm > 0 else np.zeros(2)
        out[int(tid)] = (float(unit[0]), float(unit[1]), growth)
    return out


def run_motions(cameras_dir: str | Path, cameras: Sequence[str]) -> dict[tuple[str, int], Motion]:
    """Motions of the tracks of a camera-folder run, from each camera's local-id MOT file
    (``<run>/cameras/<camera>/mot/<camera>.txt``); cameras without that file contribute none."""
    from reid.video.writers import mot_path

    out: dict[tuple[str, int], Motion] = {}
    for cam in cameras:
        path = mot_path(Path(cameras_dir) / cam, cam)
        if path.is_file():
            out.update({(cam, tid): m for tid, m in track_motions(path).items()})
    return out


def assign_flows(cameras: Sequence[str], motions: Sequence[Motion | None], min_tracklets: int = 6) -> list[int | None]:
    """Flow 0 or 1 of each tracklet (by camera), or None where the camera or the tracklet has too little motion.

    The split is the sign along the principal axis of the camera's motions, oriented so that flow 0 moves
    towards lower x (then lower y, then shrinking), which makes the labels repeatable."""
    cams = np.asarray(cameras)
    flows: list[int | None] = [None] * len(cams)
    for cam in np.unique(cams):
        rows = [i for i in np.flatnonzero(cams == cam) if motions[i] is not None]
        if len(rows) < min_tracklets:
            continue
        x = np.asarray([motions[i] for i in rows], np.float64)
        _, _, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
        axis = vt[0]
        first = int(np.flatnonzero(np.abs(axis) > 1e-6)[0])
        axis = axis if axis[first] > 0 else -axis
        proj = (x - x.mean(axis=0)) @ axis
        cut = _two_means_cut(proj)
        for i, p in zip(rows, proj, strict=True):
            flows[i] = int(p > cut)
    return flows


def _two_means_cut(values: np.ndarray, rounds: int = 20) -> float:
    """The midpoint between the two centres of 1-D 2-means (flows of unequal size are split where they part)."""
    lo, hi = float(values.min()), float(values.max())
    cut = 0.5 * (lo + hi)
    for _ in range(rounds):
        left, right = values[values <= cut], values[values > cut]
        if not len(left) or not len(right):
            break
        new = 0.5 * (float(left.mean()) + float(right.mean()))
        if abs(new - cut) < 1e-9:
            break
        cut = new
    return cut
