"""Dataset readers: the records users train and evaluate on, and one clear error for each broken layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid.data.csvlist import read_csv
from reid.data.datasets import READERS, read_dataset
from reid.data.folder import folder_label_map, read_folder
from reid.data.vehicleid import VEHICLEID_SPLITS, read_vehicleid
from reid.data.veri import parse_veri_name, read_veri
from reid.errors import DatasetError
from reid.types import ImageRecord


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8fake")


@pytest.fixture()
def vehicleid(tmp_path: Path) -> Path:
    root = tmp_path / "VehicleID"
    for name in ["0001", "0002", "0003", "0004", "0005"]:
        _touch(root / "image" / f"{name}.jpg")
    split = root / "train_test_split"
    split.mkdir(parents=True)
    (split / "train_list.txt").write_text("0001 7\n0002 7\n\n0003 9\n")
    (split / "test_list_800.txt").write_text("0004 11\n0005 12\n")
    (split / "test_list_1600.txt").write_text("0004 11\n0005 12\n0099 13\n")
    return root


def test_vehicleid_reads_records_in_list_order(vehicleid: Path) -> None:
    records = read_vehicleid(vehicleid, "train")
    assert records == [
        ImageRecord(str(vehicleid / "image" / "0001.jpg"), 7, -1),
        ImageRecord(str(vehicleid / "image" / "0002.jpg"), 7, -1),
        ImageRecord(str(vehicleid / "image" / "0003.jpg"), 9, -1),
    ]
    assert records.missing == []
    assert [r.label for r in read_vehicleid(vehicleid, "small")] == [11, 12]
    assert set(VEHICLEID_SPLITS) == {"train", "small", "medium", "large"}


def test_vehicleid_unknown_split_lists_valid_ones(vehicleid: Path) -> None:
    with pytest.raises(DatasetError, match="huge") as err:
        read_vehicleid(vehicleid, "huge")
    assert "train, small, medium, large" in str(err.value)


def test_vehicleid_missing_list_names_expected_path(vehicleid: Path) -> None:
    with pytest.raises(DatasetError) as err:
        read_vehicleid(vehicleid, "large")
    assert str(vehicleid / "train_test_split" / "test_list_2400.txt") in str(err.value)


def test_vehicleid_missing_image_folder(tmp_path: Path, vehicleid: Path) -> None:
    (vehicleid / "image").rename(tmp_path / "elsewhere")
    with pytest.raises(DatasetError, match=str(vehicleid / "image")):
        read_vehicleid(vehicleid, "train")


def test_vehicleid_missing_image_is_error_or_skipped_and_counted(vehicleid: Path) -> None:
    with pytest.raises(DatasetError, match="0099.jpg"):
        read_vehicleid(vehicleid, "medium")
    records = read_vehicleid(vehicleid, "medium", skip_missing=True)
    assert len(records) == 2
    assert records.missing == [str(vehicleid / "image" / "0099.jpg")]


def test_vehicleid_bad_line_and_empty_list(vehicleid: Path) -> None:
    (vehicleid / "train_test_split" / "test_list_2400.txt").write_text("0004 eleven\n")
    with pytest.raises(DatasetError, match="line 1"):
        read_vehicleid(vehicleid, "large")
    (vehicleid / "train_test_split" / "test_list_2400.txt").write_text("\n\n")
    with pytest.raises(DatasetError, match="no images"):
        read_vehicleid(vehicleid, "large")


@pytest.fixture()
def veri(tmp_path: Path) -> Path:
    root = tmp_path / "VeRi"
    for name in ["0002_c002_00030600_0.jpg", "0002_c003_00030700_0.jpg", "0010_c001_00000100_1.jpg"]:
        _touch(root / "image_train" / name)
    for name in ["0005_c004_00001_0.jpg"]:
        _touch(root / "image_query" / name)
    for name in ["0005_c004_00002_0.jpg", "0005_c009_00003_0.jpg"]:
        _touch(root / "image_test" / name)
    return root


def test_veri_parses_identity_and_camera(veri: Path) -> None:
    records = read_veri(veri, "train")
    assert [(r.label, r.camera) for r in records] == [(2, 2), (2, 3), (10, 1)]
    assert [(r.label, r.camera) for r in read_veri(veri, "gallery")] == [(5, 4), (5, 9)]
    assert parse_veri_name("0776_c020_00001_0.jpg") == (776, 20)


def test_veri_name_list_fixes_order_and_reports_missing(veri: Path) -> None:
    (veri / "name_test.txt").write_text("0005_c009_00003_0.jpg\n0005_c004_00002_0.jpg\n")
    assert [r.camera for r in read_veri(veri, "gallery")] == [9, 4]
    (veri / "name_test.txt").write_text("0005_c009_00003_0.jpg\n0007_c001_00001_0.jpg\n")
    with pytest.raises(DatasetError, match="0007_c001_00001_0.jpg"):
        read_veri(veri, "gallery")
    assert len(read_veri(veri, "gallery", skip_missing=True).missing) == 1


def test_veri_bad_name_missing_folder_and_empty_folder(veri: Path) -> None:
    _touch(veri / "image_query" / "car.jpg")
    with pytest.raises(DatasetError, match="car.jpg"):
        read_veri(veri, "query")
    with pytest.raises(DatasetError, match="unknown VeRi part"):
        read_veri(veri, "test")
    (veri / "image_empty").mkdir()
    for f in (veri / "image_train").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match="no images"):
        read_veri(veri, "train")
    (veri / "image_test").rename(veri / "other")
    with pytest.raises(DatasetError, match=str(veri / "image_test")):
        read_veri(veri, "gallery")


def test_folder_numeric_and_named_identities(tmp_path: Path) -> None:
    _touch(tmp_path / "num" / "0007" / "b.png")
    _touch(tmp_path / "num" / "0007" / "a.jpg")
    _touch(tmp_path / "num" / "12" / "x.JPEG")
    _touch(tmp_path / "num" / "12" / "notes.txt")
    records = read_folder(tmp_path / "num")
    assert [(Path(r.path).name, r.label, r.camera) for r in records] == [
        ("a.jpg", 7, -1),
        ("b.png", 7, -1),
        ("x.JPEG", 12, -1),
    ]
    _touch(tmp_path / "named" / "van" / "1.jpg")
    _touch(tmp_path / "named" / "bus" / "1.jpg")
    _touch(tmp_path / "named" / "3" / "1.jpg")
    assert folder_label_map(tmp_path / "named") == {"3": 0, "bus": 1, "van": 2}


def test_folder_empty_and_missing(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        read_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no identity subfolders"):
        read_folder(tmp_path / "empty")
    (tmp_path / "empty" / "car1").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        read_folder(tmp_path / "empty")


def test_csv_with_and_without_header(tmp_path: Path) -> None:
    _touch(tmp_path / "imgs" / "a.jpg")
    _touch(tmp_path / "imgs" / "b.jpg")
    (tmp_path / "plain.csv").write_text("imgs/a.jpg,3\nimgs/b.jpg,4\n")
    assert [(r.path, r.label, r.camera) for r in read_csv(tmp_path / "plain.csv")] == [
        (str(tmp_path / "imgs" / "a.jpg"), 3, -1),
        (str(tmp_path / "imgs" / "b.jpg"), 4, -1),
    ]
    (tmp_path / "full.csv").write_text(
        f"split,id,path,camera\nquery,3,imgs/a.jpg,1\ngallery,3,{tmp_path}/imgs/b.jpg,\n"
    )
    gallery = read_csv(tmp_path / "full.csv", split="gallery")
    assert [(r.path, r.label, r.camera) for r in gallery] == [(str(tmp_path / "imgs" / "b.jpg"), 3, -1)]
    assert len(read_csv(tmp_path / "full.csv")) == 2
    (tmp_path / "pos.csv").write_text("imgs/a.jpg,3,2,query\nimgs/b.jpg,3,5,gallery\n")
    assert [(r.camera) for r in read_csv(tmp_path / "pos.csv", split="query")] == [2]


def test_csv_errors(tmp_path: Path) -> None:
    _touch(tmp_path / "a.jpg")
    (tmp_path / "l.csv").write_text("a.jpg,1\nb.jpg,2\n")
    with pytest.raises(DatasetError, match="b.jpg"):
        read_csv(tmp_path / "l.csv")
    assert read_csv(tmp_path / "l.csv", skip_missing=True).missing == [str(tmp_path / "b.jpg")]
    with pytest.raises(DatasetError, match="no split column"):
        read_csv(tmp_path / "l.csv", split="query")
    (tmp_path / "s.csv").write_text("a.jpg,1,0,train\n")
    with pytest.raises(DatasetError, match="splits in the file: train"):
        read_csv(tmp_path / "s.csv", split="query")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DatasetError, match="no rows"):
        read_csv(tmp_path / "e.csv")
    with pytest.raises(DatasetError, match=str(tmp_path / "none.csv")):
        read_csv(tmp_path / "none.csv")


def test_read_dataset_dispatches_every_kind(vehicleid: Path, veri: Path, tmp_path: Path) -> None:
    assert set(READERS) == {"vehicleid", "veri", "folder", "csv"}
    assert len(read_dataset("vehicleid", vehicleid, "small")) == 2
    assert len(read_dataset("veri", veri, "query")) == 1
    _touch(tmp_path / "f" / "train" / "1" / "a.jpg")
    assert [r.label for r in read_dataset("folder", tmp_path / "f", "train")] == [1]
    assert [r.label for r in read_dataset("folder", tmp_path / "f" / "train")] == [1]
    with pytest.raises(DatasetError, match="valid kinds"):
        read_dataset("market", tmp_path)
    with pytest.raises(DatasetError, match="needs a split"):
        read_dataset("vehicleid", vehicleid)
