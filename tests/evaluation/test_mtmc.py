"""Cross-camera IDF1: perfect predictions score 1, ids swapped between cameras are penalised, bad input is clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid.errors import InputError
from reid.evaluation.mtmc import evaluate_mtmc, read_mot


def write_world(root: Path, swap_in: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """Two vehicles seen by three cameras for 20 frames each; ``swap_in`` cameras exchange the predicted ids."""
    gt, pred = root / "gt", root / "pred"
    gt.mkdir(parents=True)
    pred.mkdir()
    for cam in ("c1", "c2", "c3"):
        g, p = [], []
        for f in range(1, 21):
            for vid in (1, 2):
                x = 20 + 150 * vid + 2 * f
                g.append(f"{f},{vid},{x},40,60,40,1,-1,-1,-1")
                pid = (3 - vid) if cam in swap_in else vid
                p.append(f"{f},{pid + 100},{x + 1},41,60,40,0.9,-1,-1,-1")
        (gt / f"{cam}.txt").write_text("\n".join(g) + "\n")
        if cam not in drop:
            (pred / f"{cam}.txt").write_text("\n".join(p) + "\n")
    return pred, gt


def test_perfect_predictions(tmp_path: Path) -> None:
    pred, gt = write_world(tmp_path)
    r = evaluate_mtmc(pred, gt)
    assert r.idf1 == pytest.approx(1.0) and r.idp == pytest.approx(1.0) and r.idr == pytest.approx(1.0)
    assert r.idtp == 120 and r.cameras == ["c1", "c2", "c3"]


def test_ids_swapped_in_one_camera_cost_a_third(tmp_path: Path) -> None:
    pred, gt = write_world(tmp_path, swap_in=("c2",))
    r = evaluate_mtmc(pred, gt)
    # each camera alone is perfect, but across cameras one of three cameras holds the other vehicle's id
    assert all(v == pytest.approx(1.0) for v in r.per_camera_idf1.values())
    assert r.idf1 == pytest.approx(2 / 3)
    assert r.idtp == 80 and r.idfp == 40 and r.idfn == 40


def test_missing_camera_counts_as_missed(tmp_path: Path) -> None:
    pred, gt = write_world(tmp_path, drop=("c3",))
    r = evaluate_mtmc(pred, gt)
    assert r.missing_predictions == ["c3"]
    assert r.idp == pytest.approx(1.0)
    assert r.idr == pytest.approx(2 / 3)


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        evaluate_mtmc(tmp_path / "nope", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no MOT files"):
        evaluate_mtmc(tmp_path / "empty", tmp_path / "empty")
    bad = tmp_path / "bad.txt"
    bad.write_text("1,2,3,4,5,6\nnot,a,row\n")
    with pytest.raises(InputError, match="line 2"):
        read_mot(bad)
