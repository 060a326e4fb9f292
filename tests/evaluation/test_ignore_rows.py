"""Ground-truth rows whose 7th value is 0 are ignore rows for every reader: ``reid eval mot``, ``reid eval mtmc``
and the calibration labelling drop them alike, so a vehicle marked "do not consider" is neither missed nor found."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid.evaluation.mot import evaluate_mot
from reid.evaluation.mtmc import evaluate_mtmc
from reid.gallery.calibrate import label_tracks


def write_world(root: Path) -> tuple[Path, Path]:
    """Vehicle 1 is counted; vehicle 2 is marked 0 in every row (do not consider). Both are tracked."""
    gt, pred = root / "gt", root / "pred"
    gt.mkdir(parents=True)
    pred.mkdir()
    g, p = [], []
    for f in range(1, 11):
        g.append(f"{f},1,{10 + f},20,40,20,1,-1,-1,-1")
        g.append(f"{f},2,{200 - f},80,40,20,0,-1,-1,-1")
        p.append(f"{f},11,{10 + f},20,40,20,0.9,-1,-1,-1")
        p.append(f"{f},12,{200 - f},80,40,20,0.9,-1,-1,-1")
    (gt / "cam1.txt").write_text("\n".join(g) + "\n")
    (pred / "cam1.txt").write_text("\n".join(p) + "\n")
    return pred, gt


def test_every_reader_drops_ignore_rows(tmp_path: Path) -> None:
    pred, gt = write_world(tmp_path)
    cam = evaluate_mot(pred, gt)[0]
    # one vehicle of truth (10 boxes), found in full; the track on the ignored vehicle is 10 unmatched boxes
    assert cam.gt_ids == 1 and (cam.idtp, cam.idfn, cam.idfp) == (10, 0, 10)
    assert cam.idr == pytest.approx(1.0) and cam.idp == pytest.approx(0.5) and cam.idf1 == pytest.approx(2 / 3)
    assert cam.deta == pytest.approx(0.5) and cam.hota == pytest.approx(0.5**0.5)
    across = evaluate_mtmc(pred, gt)
    assert across.num_gt_ids == 1 and (across.idtp, across.idfn, across.idfp) == (10, 0, 10)
    assert across.hota == pytest.approx(cam.hota) and across.per_camera["cam1"].idf1 == pytest.approx(cam.idf1)
    # calibration labels the track on the ignored vehicle as a false track, not as vehicle 2
    assert label_tracks(pred / "cam1.txt", gt / "cam1.txt") == {11: 1, 12: -1}
