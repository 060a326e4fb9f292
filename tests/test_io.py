"""Atomic writes and output-folder checks: a crash never leaves a half-written file that looks complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reid.errors import InputError, OutputError
from reid.io import atomic_write, atomic_write_json, prepare_output_dir, require_file


def test_atomic_write_keeps_old_content_on_error(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write('{"v": 2, "trunc')
            raise RuntimeError("crash mid-write")
    assert target.read_text().strip().startswith('{\n  "v": 1')
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_prepare_output_dir_refuses_non_empty(tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare_output_dir(out)
    (out / "x.txt").write_text("earlier result")
    with pytest.raises(OutputError, match="not empty"):
        prepare_output_dir(out)
    assert prepare_output_dir(out, overwrite=True) == out


def test_prepare_output_dir_unwritable(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(OutputError):
            prepare_output_dir(blocker / "sub")
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    with pytest.raises(OutputError, match="cannot write"):
        prepare_output_dir(locked / "sub")


def test_require_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        require_file(tmp_path / "nope.mp4", "video")
    with pytest.raises(InputError, match="is a folder"):
        require_file(tmp_path, "video")


def test_atomic_write_gives_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "list.txt"
    with atomic_write(target) as handle:
        handle.write("x")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
