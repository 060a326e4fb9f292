"""reid.evaluation.mot: perfect predictions score 100, swapped identities less, bad folders are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid.errors import InputError
from reid.evaluation.mot import evaluate_mot


def write_tracks(path: Path, swap_at: int | None = None) -> None:
    """Two vehicles for 20 frames; with ``swap_at`` the predicted ids swap from that frame on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for f in range(1, 21):
        for vid, y in ((1, 10), (2, 100)):
            tid = vid if swap_at is None or f < swap_at else 3 - vid
            lines.append(f"{f},{tid},{5 * f},{y},40,20,1,-1,-1,-1")
    path.write_text("\n".join(lines) + "\n")


def test_perfect_prediction_scores_100(tmp_path: Path) -> None:
    write_tracks(tmp_path / "gt" / "cam1.txt")
    write_tracks(tmp_path / "pred" / "cam1.txt")
    scores = evaluate_mot(tmp_path / "pred", tmp_path / "gt")
    assert [s.name for s in scores] == ["cam1", "OVERALL"]
    assert scores[0].idf1 == pytest.approx(1.0) and scores[0].mota == pytest.approx(1.0)
    assert scores[0].id_switches == 0 and scores[0].gt_ids == 2 and scores[0].frames == 20


def test_swapped_ids_score_less(tmp_path: Path) -> None:
    write_tracks(tmp_path / "gt" / "cam1.txt")
    write_tracks(tmp_path / "pred" / "cam1.txt", swap_at=11)
    write_tracks(tmp_path / "gt" / "cam2.txt")
    write_tracks(tmp_path / "pred" / "cam2.txt")
    scores = {s.name: s for s in evaluate_mot(tmp_path / "pred", tmp_path / "gt")}
    assert scores["cam1"].idf1 == pytest.approx(0.5)
    assert scores["cam1"].id_switches == 2
    assert scores["cam2"].idf1 == pytest.approx(1.0)
    assert 0.5 < scores["OVERALL"].idf1 < 1.0


def test_track_output_folder_and_missing_camera(tmp_path: Path) -> None:
    write_tracks(tmp_path / "gt" / "cam1.txt")
    write_tracks(tmp_path / "run" / "mot" / "cam1.txt")
    assert evaluate_mot(tmp_path / "run", tmp_path / "gt")[0].idf1 == pytest.approx(1.0)
    write_tracks(tmp_path / "gt" / "cam9.txt")
    with pytest.raises(InputError, match="cam9"):
        evaluate_mot(tmp_path / "run", tmp_path / "gt")
    with pytest.raises(InputError, match="--pred"):
        evaluate_mot(tmp_path / "nope", tmp_path / "gt")


def test_malformed_file_names_the_line(tmp_path: Path) -> None:
    write_tracks(tmp_path / "gt" / "cam1.txt")
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "cam1.txt").write_text("1,1,2,3,4,5,1,-1,-1,-1\nhello,world\n")
    with pytest.raises(InputError, match="line 2"):
        evaluate_mot(tmp_path / "pred", tmp_path / "gt")
