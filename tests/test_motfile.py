"""reid.motfile: the one MOT reader and writer, its rules (1-based frames, ignore rows, one box per id and
frame) and the folder layouts every evaluation command accepts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reid.errors import InputError
from reid.motfile import camera_files, mot_line, read_mot, write_mot


def test_written_rows_read_back_sorted_with_compact_numbers(tmp_path: Path) -> None:
    path = tmp_path / "cam1.txt"
    count = write_mot(path, [(1, 7, 10, 20, 30, 40, 1.0), (1, 2, 10.5, 20.25, 30, 40, 0.9), (3, 2, 0, 0, 5, 5, 0.5)])
    assert count == 3
    assert path.read_text().splitlines() == ["1,2,10.5,20.25,30,40,0.9,-1,-1,-1", "1,7,10,20,30,40,1,-1,-1,-1",
                                             "3,2,0,0,5,5,0.5,-1,-1,-1"]
    rows = read_mot(path)
    assert rows.shape == (3, 7) and rows[0].tolist() == [1, 2, 10.5, 20.25, 30, 40, 0.9]
    assert mot_line(4, 1, 1 / 3, 2, 3, 4, 0.123456) == "4,1,0.33,2,3,4,0.1235,-1,-1,-1\n"


def test_rows_out_of_frame_order_are_a_bug(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="frame order"):
        write_mot(tmp_path / "x.txt", [(2, 1, 0, 0, 1, 1), (1, 1, 0, 0, 1, 1)])


def test_ignore_rows_are_dropped_from_truth_only(tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("1,1,0,0,10,10,1,-1,-1,-1\n1,2,50,0,10,10,0,-1,-1,-1\n2,1,1,0,10,10,1,-1,-1,-1\n")
    assert read_mot(path, truth=True)[:, 1].tolist() == [1, 1]
    # in predictions the 7th value is a confidence: a score of 0 still counts
    assert read_mot(path)[:, 1].tolist() == [1, 2, 1]


def test_six_values_whitespace_and_missing_confidence(tmp_path: Path) -> None:
    path = tmp_path / "cam.txt"
    path.write_text("1 4 0 0 10 10\n\n2 4 1 0 10 10\n")
    rows = read_mot(path, truth=True)
    assert rows[:, 6].tolist() == [1, 1] and rows[:, 0].tolist() == [1, 2]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert read_mot(empty).shape == (0, 7)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0,1,0,0,10,10,1", "frame 0 is below 1"),
        ("1.5,1,0,0,10,10,1", "must be integers"),
        ("1,1,0,0,-3,10,1", "negative width"),
        ("1,1,0,0,10", "needs at least 6"),
        ("1,1,zero,0,10,10,1", "line 2 is not a MOT row"),
        ("1,1,0,0,nan,10,1", "finite"),
    ],
)
def test_broken_rows_name_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(f"1,9,0,0,10,10,1,-1,-1,-1\n{line}\n")
    with pytest.raises(InputError, match=message) as info:
        read_mot(path)
    assert "bad.txt" in str(info.value)


def test_frame_zero_hint_says_how_to_fix_it(tmp_path: Path) -> None:
    path = tmp_path / "zero.txt"
    path.write_text("0,1,0,0,10,10,1\n")
    with pytest.raises(InputError) as info:
        read_mot(path)
    assert "add 1" in (info.value.hint or "")


def test_an_id_twice_in_one_frame_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.txt"
    path.write_text("1,3,0,0,10,10,1\n2,3,0,0,10,10,1\n2,3,5,5,10,10,1\n")
    with pytest.raises(InputError, match="id 3 appears 2 times in frame 2"):
        read_mot(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_mot(tmp_path / "nope.txt")


def test_camera_files_in_every_layout(tmp_path: Path) -> None:
    row = "1,1,0,0,10,10,1\n"
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "cam1.txt").write_text(row)
    run = tmp_path / "run" / "mot"
    run.mkdir(parents=True)
    (run / "cam2.txt").write_text(row)
    scene = tmp_path / "scene" / "gt"
    scene.mkdir(parents=True)
    (scene / "cam3.txt").write_text(row)
    scenario = tmp_path / "S02"
    for cam in ("c006", "c007"):
        (scenario / cam / "gt").mkdir(parents=True)
        (scenario / cam / "gt" / "gt.txt").write_text(row)
    assert list(camera_files(flat, "truth", "--gt")) == ["cam1"]
    assert list(camera_files(tmp_path / "run", "prediction", "--pred")) == ["cam2"]
    assert list(camera_files(tmp_path / "scene", "truth", "--gt")) == ["cam3"]
    files = camera_files(scenario, "truth", "--gt")
    assert files == {"c006": scenario / "c006" / "gt" / "gt.txt", "c007": scenario / "c007" / "gt" / "gt.txt"}
    with pytest.raises(InputError, match="holds no MOT files"):
        camera_files(_empty(tmp_path), "truth", "--gt")
    with pytest.raises(InputError, match="does not exist"):
        camera_files(tmp_path / "nope", "truth", "--gt")
    assert np.array_equal(read_mot(files["c006"]), read_mot(flat / "cam1.txt"))


def _empty(root: Path) -> Path:
    folder = root / "empty"
    folder.mkdir()
    return folder
