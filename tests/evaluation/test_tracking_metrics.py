"""HOTA, DetA, AssA, LocA, IDF1 and MOTA on hand-made sequences with values worked out by hand, and the same
numbers as TrackEval's own MOTChallenge evaluation (reader, preprocessing, Evaluator) on the same files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reid.evaluation.mot import evaluate_mot
from reid.evaluation.tracking import build_sequence, score_sequence

ALPHAS = np.arange(0.05, 0.99, 0.05)  # TrackEval's localisation thresholds


def rows(*items: tuple[float, ...]) -> np.ndarray:
    """(frame, id, left, top, width, height) tuples -> read_mot-style (N, 7) rows with confidence 1."""
    return np.array([[*r, 1.0] for r in items], np.float64).reshape(-1, 7)


def test_a_perfect_track_scores_one_everywhere() -> None:
    truth = rows(*((f, 1, 10 + f, 20, 30, 20) for f in range(1, 6)))
    s = score_sequence(build_sequence([(truth, truth.copy())]))
    for value in (s.hota, s.deta, s.assa, s.loca, s.idf1, s.idp, s.idr, s.mota):
        assert value == pytest.approx(1.0)
    assert (s.id_switches, s.frames, s.gt_ids, s.pred_ids) == (0, 5, 1, 1)


def test_localisation_counts_only_below_the_overlap() -> None:
    # every predicted box covers 62 % of the true one (IoU 0.62): a match at 12 of the 19 thresholds
    truth = rows(*((f, 1, 0, 0, 10, 10) for f in range(1, 5)))
    pred = rows(*((f, 5, 0, 0, 10, 6.2) for f in range(1, 5)))
    s = score_sequence(build_sequence([(truth, pred)]))
    matched = int((ALPHAS <= 0.62).sum())
    assert matched == 12
    assert s.deta == pytest.approx(matched / 19) and s.assa == pytest.approx(matched / 19)
    assert s.hota == pytest.approx(matched / 19)  # sqrt(1 * 1) where matched, 0 elsewhere
    # LocA is the mean IoU of the matches per threshold; TrackEval counts a threshold without matches as 1
    assert s.loca == pytest.approx((matched * 0.62 + (19 - matched) * 1.0) / 19)
    assert s.idf1 == pytest.approx(1.0) and s.mota == pytest.approx(1.0)  # IoU 0.62 >= 0.5


def test_an_identity_switch_halves_association() -> None:
    truth = rows(*((f, 1, 0, 0, 20, 20) for f in range(1, 5)))
    pred = rows(*((f, 7 if f <= 2 else 8, 0, 0, 20, 20) for f in range(1, 5)))
    s = score_sequence(build_sequence([(truth, pred)]))
    # every box is detected (DetA 1); each predicted id covers half of the vehicle: A = 2 / (4 + 2 - 2)
    assert s.deta == pytest.approx(1.0) and s.assa == pytest.approx(0.5)
    assert s.hota == pytest.approx(np.sqrt(0.5))
    assert s.idf1 == pytest.approx(0.5) and (s.idtp, s.idfp, s.idfn) == (2, 2, 2)
    assert s.mota == pytest.approx(0.75) and s.id_switches == 1


def test_misses_and_false_boxes() -> None:
    truth = rows(*((f, 1, 0, 0, 20, 20) for f in range(1, 5)), (1, 2, 100, 0, 20, 20), (2, 2, 100, 0, 20, 20))
    pred = rows(*((f, 3, 0, 0, 20, 20) for f in range(1, 5)), (1, 9, 200, 50, 20, 20), (2, 9, 200, 50, 20, 20))
    s = score_sequence(build_sequence([(truth, pred)]))
    assert s.deta == pytest.approx(4 / 8)  # TP / (TP + FN + FP) = 4 / (4 + 2 + 2)
    assert s.assa == pytest.approx(1.0) and s.hota == pytest.approx(np.sqrt(0.5))
    assert s.idf1 == pytest.approx(8 / 12) and s.idp == pytest.approx(4 / 6) and s.idr == pytest.approx(4 / 6)
    assert s.mota == pytest.approx((4 - 2) / 6)


def test_cameras_in_one_sequence_share_identities() -> None:
    one = rows(*((f, 1, 0, 0, 20, 20) for f in range(1, 4)))
    pred_a = rows(*((f, 5, 0, 0, 20, 20) for f in range(1, 4)))
    pred_b = rows(*((f, 6, 0, 0, 20, 20) for f in range(1, 4)))
    # the same vehicle in two cameras, predicted under two ids: perfect per camera, half associated across
    across = score_sequence(build_sequence([(one, pred_a), (one, pred_b)]))
    assert across.frames == 6 and across.deta == pytest.approx(1.0) and across.assa == pytest.approx(0.5)
    assert across.idf1 == pytest.approx(0.5) and across.gt_ids == 1 and across.pred_ids == 2
    same = score_sequence(build_sequence([(one, pred_a), (one, pred_a)]))
    assert same.hota == pytest.approx(1.0)


def _write(path: Path, data: np.ndarray, cls: int | None) -> None:
    """MOTChallenge lines; ``cls`` fills the class column that TrackEval's MOT17 reader wants in ground truth."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tail = f"{cls},1" if cls is not None else "-1,-1"
    path.write_text("".join(f"{int(r[0])},{int(r[1])},{r[2]:.2f},{r[3]:.2f},{r[4]:.2f},{r[5]:.2f},{r[6]:g},{tail}\n"
                            for r in data))


def _fixture(seed: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Four vehicles with jittered predictions, an id switch, a missed stretch, false boxes and ignore rows."""
    rng = np.random.default_rng(seed)
    truth, pred = [], []
    for f in range(1, frames + 1):
        for v in range(4):
            x, y = 20 + 9 * f + 60 * v, 30 + 25 * v
            flag = 0 if (v == 3 and f % 3 == 0) else 1  # some ignore rows
            truth.append([f, v + 1, x, y, 40, 24, flag])
            if v == 1 and 4 <= f <= 6:
                continue  # missed
            pid = 10 + v if not (v == 2 and f > frames // 2) else 99  # an identity switch
            dx, dy, dw = rng.normal(0, 3, 3)
            pred.append([f, pid, x + dx, y + dy, 40 + dw, 24, 0.9])
        if f % 4 == 0:
            pred.append([f, 50 + f, 400 + rng.normal(0, 20), 200, 30, 20, 0.4])  # false box
    return np.array(truth, np.float64), np.array(pred, np.float64)


def test_numbers_equal_trackeval_mot_challenge_evaluation(tmp_path: Path) -> None:
    import trackeval

    seqs = {"cam1": _fixture(0, 12), "cam2": _fixture(1, 9)}
    gt_root, tr_root = tmp_path / "gt", tmp_path / "trackers"
    for name, (truth, pred) in seqs.items():
        _write(gt_root / name / "gt" / "gt.txt", truth, cls=1)  # pedestrian class: what the MOT17 reader keeps
        _write(tr_root / "ours" / "data" / f"{name}.txt", pred, cls=None)
        _write(tmp_path / "ours" / "gt" / f"{name}.txt", truth, cls=None)
        _write(tmp_path / "ours" / "pred" / f"{name}.txt", pred, cls=None)
    evaluator = trackeval.Evaluator({"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False,
                                     "TIME_PROGRESS": False, "OUTPUT_SUMMARY": False, "OUTPUT_DETAILED": False,
                                     "PLOT_CURVES": False, "LOG_ON_ERROR": None})
    dataset = trackeval.datasets.MotChallenge2DBox({
        "GT_FOLDER": str(gt_root), "TRACKERS_FOLDER": str(tr_root), "SKIP_SPLIT_FOL": True, "PRINT_CONFIG": False,
        "TRACKERS_TO_EVAL": ["ours"], "SEQ_INFO": {name: int(t[:, 0].max()) for name, (t, _) in seqs.items()}})
    metrics = [trackeval.metrics.HOTA(), trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
               trackeval.metrics.Identity({"PRINT_CONFIG": False})]
    reference = evaluator.evaluate([dataset], metrics)[0]["MotChallenge2DBox"]["ours"]

    ours = {s.name: s for s in evaluate_mot(tmp_path / "ours" / "pred", tmp_path / "ours" / "gt")}
    for name, ref_name in (("cam1", "cam1"), ("cam2", "cam2"), ("OVERALL", "COMBINED_SEQ")):
        ref = reference[ref_name]["pedestrian"]
        got = ours[name]
        assert got.hota == pytest.approx(np.mean(ref["HOTA"]["HOTA"]), abs=1e-12)
        assert got.deta == pytest.approx(np.mean(ref["HOTA"]["DetA"]), abs=1e-12)
        assert got.assa == pytest.approx(np.mean(ref["HOTA"]["AssA"]), abs=1e-12)
        assert got.loca == pytest.approx(np.mean(ref["HOTA"]["LocA"]), abs=1e-12)
        assert got.idf1 == pytest.approx(ref["Identity"]["IDF1"], abs=1e-12)
        assert got.idp == pytest.approx(ref["Identity"]["IDP"], abs=1e-12)
        assert got.idr == pytest.approx(ref["Identity"]["IDR"], abs=1e-12)
        assert got.mota == pytest.approx(ref["CLEAR"]["MOTA"], abs=1e-12)
        assert got.id_switches == ref["CLEAR"]["IDSW"]
    # the fixture exercises what it should: switches, misses, false boxes and dropped ignore rows
    assert ours["cam1"].id_switches >= 1 and 0.3 < ours["OVERALL"].hota < 0.95
    assert ours["cam1"].idfn > 0 and ours["cam1"].idfp > 0
