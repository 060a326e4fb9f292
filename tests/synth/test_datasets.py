"""VehicleID- and VeRi-layout writers: real layouts, readable by plain readers, deterministic, safe outputs."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest

from reid.errors import InputError, OutputError
from reid.synth.vehicleid import TEST_LISTS, vehicleid_specs, write_vehicleid
from reid.synth.veri import veri_specs, write_veri

SMALL_VID = dict(num_train_ids=6, num_test_ids=7, images_per_id=(2, 3), size=(48, 40))
SMALL_VERI = dict(num_train_ids=5, num_test_ids=4, cameras=4, size=(48, 40))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_list(path: Path) -> list[tuple[str, int]]:
    rows = []
    for line in path.read_text().splitlines():
        name, vid = line.split(" ")
        rows.append((name, int(vid)))
    return rows


@pytest.fixture(scope="module")
def vid_root(tmp_path_factory) -> Path:
    return write_vehicleid(tmp_path_factory.mktemp("vid") / "VehicleID", seed=1, **SMALL_VID)


@pytest.fixture(scope="module")
def veri_root(tmp_path_factory) -> Path:
    return write_veri(tmp_path_factory.mktemp("veri") / "VeRi", seed=1, **SMALL_VERI)


def test_vehicleid_layout_is_readable_by_a_plain_reader(vid_root):
    split = vid_root / "train_test_split"
    assert sorted(p.name for p in split.iterdir()) == sorted(["train_list.txt", *TEST_LISTS])
    train = _read_list(split / "train_list.txt")
    lists = {name: _read_list(split / name) for name in TEST_LISTS}
    train_ids = {v for _, v in train}
    ids = {name: {v for _, v in rows} for name, rows in lists.items()}
    assert len(train_ids) == 6 and len(ids["test_list_2400.txt"]) == 7
    assert train_ids.isdisjoint(ids["test_list_2400.txt"])
    # nested small ⊂ medium ⊂ large, as in the real dataset; small is about a third
    assert ids["test_list_800.txt"] < ids["test_list_1600.txt"] < ids["test_list_2400.txt"]
    assert len(ids["test_list_800.txt"]) == 3 and len(ids["test_list_1600.txt"]) == 5
    assert set(lists["test_list_800.txt"]) <= set(lists["test_list_2400.txt"])
    all_rows = train + lists["test_list_2400.txt"]
    names = [n for n, _ in all_rows]
    assert len(names) == len(set(names))
    assert sorted(p.stem for p in (vid_root / "image").glob("*.jpg")) == sorted(names)
    for name, _ in all_rows:
        assert re.fullmatch(r"\d{7}", name)
        img = cv2.imread(str(vid_root / "image" / f"{name}.jpg"))
        assert img is not None and img.shape == (40, 48, 3)
    per_id: dict[int, int] = {}
    for _, v in all_rows:
        per_id[v] = per_id.get(v, 0) + 1
    assert set(per_id.values()) <= {2, 3}
    attrs = (vid_root / "attribute" / "model_attr.txt").read_text().split("\n")
    assert len([a for a in attrs if a]) == 13


def test_vehicleid_is_byte_identical_for_a_seed_and_differs_across_seeds(tmp_path, vid_root):
    again = write_vehicleid(tmp_path / "again", seed=1, **SMALL_VID)
    assert _tree(again) == _tree(vid_root)
    other = write_vehicleid(tmp_path / "other", seed=2, **SMALL_VID)
    a, b = _tree(vid_root), _tree(other)
    assert a["train_test_split/train_list.txt"] != b["train_test_split/train_list.txt"]
    shared = set(a) & set(b)
    assert any(a[k] != b[k] for k in shared if k.startswith("image/"))


def test_vehicleid_specs_name_the_near_duplicates_of_the_dataset():
    specs = vehicleid_specs(40, 30, seed=0)
    dups = [s for s in specs.values() if s.near_duplicate_of is not None]
    assert dups, "a re-ID dataset without near-duplicates would be too easy"
    for dup in dups:
        original = specs[dup.near_duplicate_of]
        assert (original.body, original.color) == (dup.body, dup.color) and original.plate != dup.plate


def test_vehicleid_refuses_a_non_empty_folder_and_overwrite_leaves_no_stale_images(tmp_path):
    out = tmp_path / "ds"
    write_vehicleid(out, num_train_ids=4, num_test_ids=4, images_per_id=(3, 3), size=(32, 32))
    with pytest.raises(OutputError, match="not empty"):
        write_vehicleid(out, num_train_ids=2, num_test_ids=2, images_per_id=(2, 2), size=(32, 32))
    (out / "notes.txt").write_text("mine")
    write_vehicleid(out, num_train_ids=2, num_test_ids=2, images_per_id=(2, 2), size=(32, 32), overwrite=True)
    assert len(list((out / "image").glob("*.jpg"))) == 8
    assert (out / "notes.txt").read_text() == "mine"


def test_vehicleid_rejects_bad_counts(tmp_path):
    with pytest.raises(InputError, match="test identities"):
        write_vehicleid(tmp_path / "a", num_test_ids=0)
    with pytest.raises(InputError, match="images per identity"):
        write_vehicleid(tmp_path / "b", images_per_id=(1, 3))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_progress_reports_every_image(tmp_path):
    calls = []
    write_vehicleid(tmp_path / "p", num_train_ids=1, num_test_ids=1, images_per_id=(2, 2), size=(32, 32),
                    progress=lambda done, total=None, **info: calls.append((done, total, info["split"])))
    assert [c[0] for c in calls] == [1, 2, 3, 4] and {c[1] for c in calls} == {4}
    assert [c[2] for c in calls] == ["train", "train", "test", "test"]


VERI_NAME = re.compile(r"(\d{4})_c(\d{3})_(\d{8})_(\d)\.jpg")


def test_veri_layout_is_readable_by_a_plain_reader(veri_root):
    lists = {s: (veri_root / f"name_{s}.txt").read_text().split() for s in ("train", "test", "query")}
    for split, folder in (("train", "image_train"), ("test", "image_test"), ("query", "image_query")):
        assert sorted(p.name for p in (veri_root / folder).iterdir()) == sorted(lists[split])
        for name in lists[split]:
            assert VERI_NAME.fullmatch(name), name
    parsed = {s: [VERI_NAME.fullmatch(n).groups() for n in names] for s, names in lists.items()}
    train_ids = {int(g[0]) for g in parsed["train"]}
    test_ids = {int(g[0]) for g in parsed["test"]}
    assert len(train_ids) == 5 and len(test_ids) == 4 and train_ids.isdisjoint(test_ids)
    # queries come from the test set (same bytes), one per identity and camera
    assert set(lists["query"]) <= set(lists["test"])
    for name in lists["query"]:
        assert (veri_root / "image_query" / name).read_bytes() == (veri_root / "image_test" / name).read_bytes()
    pairs = [(g[0], g[1]) for g in parsed["query"]]
    assert len(pairs) == len(set(pairs))
    # every query has a same-identity image from another camera in the gallery (the VeRi protocol needs one)
    for vid, cam in pairs:
        assert any(g[0] == vid and g[1] != cam for g in parsed["test"])
    cams = {int(g[1]) for s in parsed.values() for g in s}
    assert cams <= {1, 2, 3, 4}
    img = cv2.imread(str(veri_root / "image_train" / lists["train"][0]))
    assert img.shape == (40, 48, 3)


def test_veri_is_deterministic_and_rejects_one_camera(tmp_path, veri_root):
    assert _tree(write_veri(tmp_path / "again", seed=1, **SMALL_VERI)) == _tree(veri_root)
    assert _tree(write_veri(tmp_path / "other", seed=9, **SMALL_VERI)) != _tree(veri_root)
    with pytest.raises(InputError, match="cameras"):
        write_veri(tmp_path / "one", cameras=1)
    specs = veri_specs(5, 4, seed=1)
    assert len(specs) == 9
