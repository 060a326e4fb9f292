"""Which entries of a folder are cameras, and the one-line errors for folders that are not camera folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid.errors import InputError
from reid.multicam.discover import discover_cameras


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_videos_and_subfolders_are_cameras_others_skipped_and_listed(tmp_path: Path) -> None:
    touch(tmp_path / "north.mp4")
    touch(tmp_path / "east" / "clip.avi")
    touch(tmp_path / "west" / "000001.jpg")
    touch(tmp_path / "west" / "000002.jpg")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / "gt" / "north.txt")
    (tmp_path / "empty").mkdir()
    touch(tmp_path / ".hidden.mp4")
    found = discover_cameras(tmp_path)
    assert found.names == ["east", "north", "west"]
    kinds = {c.name: (c.kind, c.path.name) for c in found.cameras}
    assert kinds == {"east": ("video", "clip.avi"), "north": ("video", "north.mp4"), "west": ("frames", "west")}
    assert dict(found.skipped) == {
        "empty": "holds no video and no image frames",
        "gt": "holds no video and no image frames",
        "notes.txt": "not a video file",
    }


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no cameras found.*empty"):
        discover_cameras(tmp_path)


def test_only_non_videos_lists_what_was_skipped(tmp_path: Path) -> None:
    touch(tmp_path / "a.txt")
    touch(tmp_path / "b.csv")
    with pytest.raises(InputError) as info:
        discover_cameras(tmp_path)
    assert "a.txt: not a video file" in str(info.value) and "\n" not in str(info.value)


def test_two_cameras_with_the_same_name(tmp_path: Path) -> None:
    touch(tmp_path / "cam1.mp4")
    touch(tmp_path / "cam1" / "video.mp4")
    with pytest.raises(InputError, match="two cameras are named 'cam1'"):
        discover_cameras(tmp_path)
    (tmp_path / "cam1" / "video.mp4").unlink()
    (tmp_path / "cam1").rmdir()
    touch(tmp_path / "cam1.avi")
    with pytest.raises(InputError, match="cam1.avi and cam1.mp4|cam1.mp4 and cam1.avi"):
        discover_cameras(tmp_path)


def test_cameras_yaml_restricts_and_must_name_existing_cameras(tmp_path: Path) -> None:
    touch(tmp_path / "cam1.mp4")
    touch(tmp_path / "cam2.mp4")
    touch(tmp_path / "background" / "cam1.png")
    found = discover_cameras(tmp_path, only=["cam1", "cam2"])
    assert found.names == ["cam1", "cam2"]
    assert "background" in dict(found.skipped)
    with pytest.raises(InputError, match="names camera cam9 that is not in"):
        discover_cameras(tmp_path, only=["cam1", "cam9"])


def test_missing_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        discover_cameras(tmp_path / "nope")
    touch(tmp_path / "file.mp4")
    with pytest.raises(InputError, match="not a folder"):
        discover_cameras(tmp_path / "file.mp4")
