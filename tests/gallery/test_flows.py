"""Flows: which way each tracklet moved through its camera's view."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reid.gallery.flows import assign_flows, track_motions


def test_track_motions_from_a_mot_file(tmp_path: Path) -> None:
    rows = []
    for f in range(1, 21):
        rows.append(f"{f},1,{10 + 5 * f},50,40,30,1,-1,-1,-1")  # left to right
        rows.append(f"{f},2,{400 - 5 * f},80,40,30,1,-1,-1,-1")  # right to left
        rows.append(f"{f},3,200,{20 + 4 * f},{10 + f},{8 + f},1,-1,-1,-1")  # down the image, growing
        rows.append(f"{f},4,300,300,40,30,1,-1,-1,-1")  # parked: no motion
    rows.append("1,5,0,0,10,10,1,-1,-1,-1")  # one box: too short to say
    path = tmp_path / "cam.txt"
    path.write_text("\n".join(rows) + "\n")
    motions = track_motions(path)
    assert sorted(motions) == [1, 2, 3]
    assert motions[1][0] > 0.99 and motions[2][0] < -0.99
    assert motions[3][1] > 0.9 and motions[3][2] > 0.5


def test_two_flows_per_camera_split_by_direction() -> None:
    rng = np.random.default_rng(0)
    cams, motions = [], []
    for cam in ("a", "b"):
        for k in range(20):
            sign = 1.0 if k % 3 else -1.0  # unequal flows: 13 one way, 7 the other
            d = np.array([sign, 0.1 * rng.standard_normal()])
            d /= np.linalg.norm(d)
            cams.append(cam)
            motions.append((float(d[0]), float(d[1]), 0.0))
    cams.append("a")
    motions.append(None)  # no motion: no flow
    flows = assign_flows(cams, motions)
    assert flows[-1] is None
    for cam in ("a", "b"):
        rows = [i for i, c in enumerate(cams) if c == cam and motions[i] is not None]
        by_direction = {side: {flows[i] for i in rows if (motions[i][0] > 0) == side} for side in (True, False)}
        assert all(len(v) == 1 for v in by_direction.values())
        assert by_direction[True] != by_direction[False]
        # flow 0 moves towards lower x in every camera, so labels are repeatable
        assert by_direction[False] == {0}
    # too few moving tracklets: no flows at all
    assert assign_flows(["c"] * 3, [(1.0, 0.0, 0.0)] * 3) == [None] * 3
