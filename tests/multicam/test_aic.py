"""The AI City MTMC submission file: written from MOT files (integer boxes, GPS from a calibration), read back
per camera, and scored by ``reid eval mtmc --format aic`` exactly like the MOT files it came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reid.errors import InputError
from reid.evaluation.mtmc import evaluate_mtmc
from reid.motfile import read_mot
from reid.multicam.aic import camera_number, camera_numbers, read_submission, write_submission


def test_camera_numbers() -> None:
    assert camera_number("c006") == 6 and camera_number("cam12") == 12
    with pytest.raises(InputError, match="has no number"):
        camera_number("north")
    with pytest.raises(InputError, match="same AI City camera id 6"):
        camera_numbers(["c006", "cam6"])


def write_run(root: Path) -> dict[str, Path]:
    mot = root / "mot"
    mot.mkdir(parents=True)
    (mot / "c010.txt").write_text("1,4,10.4,20.6,30.2,40,0.9,-1,-1,-1\n2,4,12,20,30,40,0.8,-1,-1,-1\n")
    (mot / "c002.txt").write_text("1,9,0,0,10,10,1,-1,-1,-1\n1,4,50,50,10,10,1,-1,-1,-1\n")
    return {p.stem: p for p in sorted(mot.glob("*.txt"))}


def test_written_file_follows_the_format(tmp_path: Path) -> None:
    files = write_run(tmp_path)
    calibration = tmp_path / "calibration.txt"
    calibration.write_text("Homography matrix: 0 1000 90700;-1000 0 42500;0 0 1\n")
    out = tmp_path / "track1.txt"
    assert write_submission(out, files, {"c010": calibration, "c002": None}) == 4
    lines = out.read_text().splitlines()
    assert lines[:2] == ["2 4 1 50 50 10 10 -1 -1", "2 9 1 0 0 10 10 -1 -1"]  # camera 2 first, ids in order
    first = lines[2].split()
    # edges rounded: left 10.4 -> 10, right 40.6 -> 41; the world point is the bottom centre (25.5, 60.6)
    assert first[:7] == ["10", "4", "1", "10", "21", "31", "40"]
    assert [float(v) for v in first[7:]] == pytest.approx([42.5 - 0.0606, -90.7 + 0.0255])


def test_read_back_per_camera_named_after_the_truth(tmp_path: Path) -> None:
    files = write_run(tmp_path)
    out = tmp_path / "track1.txt"
    write_submission(out, files)
    back = read_submission(out, names=["c002", "c010"])
    assert sorted(back) == ["c002", "c010"]
    assert back["c002"][:, :6].tolist() == [[1, 4, 50, 50, 10, 10], [1, 9, 0, 0, 10, 10]]
    assert sorted(read_submission(out)) == ["c002", "c010"]  # c + three digits without names
    assert sorted(read_submission(out, names=["cam2"])) == ["c010", "cam2"]


def test_broken_lines_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("1 1 1 0 0 10 10 -1 -1\n1 1 2 0 0 10\n")
    with pytest.raises(InputError, match="line 2 has 6 values"):
        read_submission(bad)
    bad.write_text("x 1 1 0 0 10 10 -1 -1\n")
    with pytest.raises(InputError, match="camera id 'x'"):
        read_submission(bad)
    bad.write_text("1 1 0 0 0 10 10 -1 -1\n")  # frame_id 0
    with pytest.raises(InputError, match="below 1"):
        read_submission(bad)


def test_eval_mtmc_scores_an_aic_file_like_its_mot_files(tmp_path: Path) -> None:
    gt = tmp_path / "S01"
    pred = tmp_path / "mot"
    pred.mkdir()
    rng = np.random.default_rng(0)
    for k, cam in enumerate(("c001", "c002")):
        (gt / cam / "gt").mkdir(parents=True)
        g, p = [], []
        for f in range(1, 15):
            for vid in (1, 2):
                x = 20 + 7 * f + 90 * vid
                g.append(f"{f},{vid},{x},{40 + 30 * vid},50,30,1,-1,-1,-1")
                if (f + vid + k) % 5:
                    pid = vid if not (cam == "c002" and vid == 2) else 7  # a cross-camera id error
                    p.append(f"{f},{pid},{x + int(rng.integers(-3, 4))},{40 + 30 * vid},50,30,1,-1,-1,-1")
        (gt / cam / "gt" / "gt.txt").write_text("\n".join(g) + "\n")
        (pred / f"{cam}.txt").write_text("\n".join(p) + "\n")
    submission = tmp_path / "track1.txt"
    write_submission(submission, {p.stem: p for p in pred.glob("*.txt")})
    from_mot = evaluate_mtmc(pred, gt)
    from_aic = evaluate_mtmc(submission, gt, pred_format="aic")
    assert from_aic.as_dict() == from_mot.as_dict()
    assert 0.3 < from_mot.hota < 0.95 and from_mot.idf1 < from_mot.per_camera["c001"].idf1
    # the challenge's ground truth in the submission format is read the same way
    truth = tmp_path / "ground_truth_train.txt"
    write_submission(truth, {c: gt / c / "gt" / "gt.txt" for c in ("c001", "c002")})
    assert evaluate_mtmc(pred, truth).as_dict() == from_mot.as_dict()
    assert read_mot(gt / "c001" / "gt" / "gt.txt").shape == (28, 7)
    with pytest.raises(InputError, match="is a folder, not an AI City file"):
        evaluate_mtmc(pred, gt, pred_format="aic")
    with pytest.raises(InputError, match="--format aic"):
        evaluate_mtmc(submission, gt)
    with pytest.raises(InputError, match="--format takes mot or aic"):
        evaluate_mtmc(pred, gt, pred_format="csv")
