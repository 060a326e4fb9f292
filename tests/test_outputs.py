"""Output folders hold, replace and delete only what the project wrote (the ledger), never write outside the
folder or through a link, and refuse a folder that overlaps an input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reid.errors import OutputError
from reid.io import atomic_write_text, open_for_writing, write_image
from reid.outputs import LEDGER, OutputFolder, active_folders, remove_tree, safe_component


@pytest.fixture(autouse=True)
def _isolated_registry():
    with active_folders():
        yield


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(
    ("name", "expected"),
    [("../../../x", "x"), ("a/b", "a_b"), ("cam 1", "cam_1"), ("..", "camera"), ("", "camera"),
     (".hidden", "hidden"), ("Kreuzung Süd", "Kreuzung_Süd"), ("c\x00d", "c_d"), ("x" * 500, "x" * 120)],
)
def test_safe_component_is_one_harmless_path_component(name: str, expected: str) -> None:
    got = safe_component(name)
    assert got == expected
    assert "/" not in got and got not in (".", "..") and not got.startswith(".")


def test_overwrite_deletes_only_what_the_ledger_lists(tmp_path: Path) -> None:
    out = tmp_path / "out"
    OutputFolder.prepare(out)
    atomic_write_text(out / "mot" / "cam1.txt", "1,1,0,0,1,1,1,-1,-1,-1\n")
    atomic_write_text(out / "status.json", "{}")
    (out / "notes.txt").write_text("mine")  # the user's own files, in and beside our folders
    (out / "mot" / "keep.txt").write_text("mine too")
    (out / "mine").mkdir()
    (out / "mine" / "data.bin").write_bytes(b"x")

    OutputFolder.prepare(out, overwrite=True)

    assert _listing(out) - {LEDGER} == {"notes.txt", "mot", "mot/keep.txt", "mine", "mine/data.bin"}
    assert (out / "notes.txt").read_text() == "mine"


def test_overwrite_removes_our_folders_and_interrupted_temporaries(tmp_path: Path) -> None:
    out = tmp_path / "out"
    OutputFolder.prepare(out)
    atomic_write_text(out / "cameras" / "c1" / "mot" / "c1.txt", "x")
    (out / "cameras" / "c1" / "mot" / ".c1.txt.abc123.tmp").write_text("torn")  # a crash mid-write
    OutputFolder.prepare(out, overwrite=True)
    assert not (out / "cameras").exists()


def test_a_foreign_entry_where_the_run_writes_is_refused_before_anything_is_deleted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    OutputFolder.prepare(out)
    atomic_write_text(out / "status.json", "{}")
    (out / "report.html").write_text("the user's report")
    with pytest.raises(OutputError, match="not written by reid"):
        OutputFolder.prepare(out, overwrite=True, owned=("status.json", "report.html"))
    assert (out / "status.json").exists() and (out / "report.html").read_text() == "the user's report"


def test_writing_over_a_foreign_file_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "identities.json").write_text("precious")
    OutputFolder.prepare(out, overwrite=True)
    with pytest.raises(OutputError, match="not written by reid"):
        atomic_write_text(out / "identities.json", "{}")
    assert (out / "identities.json").read_text() == "precious"


def test_no_write_goes_through_a_symbolic_link_inside_the_folder(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    OutputFolder.prepare(out)
    (out / "mot").symlink_to(elsewhere, target_is_directory=True)
    (out / "report.html").symlink_to(elsewhere / "victim.html")
    with pytest.raises(OutputError, match="symbolic link"):
        atomic_write_text(out / "mot" / "cam1.txt", "x")
    with pytest.raises(OutputError):
        atomic_write_text(out / "report.html", "x")
    with pytest.raises(OutputError):
        open_for_writing(out / "mot" / "spool.rows")
    assert list(elsewhere.iterdir()) == []


def test_overwrite_never_follows_a_link_that_replaced_one_of_our_folders(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "cam1.txt").write_text("not ours")
    OutputFolder.prepare(out)
    atomic_write_text(out / "mot" / "cam1.txt", "x")
    for p in (out / "mot").iterdir():
        p.unlink()
    (out / "mot").rmdir()
    (out / "mot").symlink_to(elsewhere, target_is_directory=True)
    OutputFolder.prepare(out, overwrite=True)
    assert (elsewhere / "cam1.txt").read_text() == "not ours"
    assert not (out / "mot").exists()  # the link itself was ours to remove, its target was not


def test_a_tampered_ledger_never_deletes_outside_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    OutputFolder.prepare(out)
    with open(out / LEDGER, "a") as ledger:
        ledger.write(f"f ../victim.txt\nf {victim}\nd ..\n")
    OutputFolder.prepare(out, overwrite=True)
    assert victim.read_text() == "keep"


def test_output_folder_containing_an_input_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "cameras").mkdir(parents=True)
    (proj / "cameras" / "c1.mp4").write_bytes(b"video")
    before = _listing(proj)
    with pytest.raises(OutputError, match="contains the input"):
        OutputFolder.prepare(proj, overwrite=True, inputs=[proj / "cameras"])
    with pytest.raises(OutputError, match="lies inside the input"):
        OutputFolder.prepare(proj / "cameras" / "run", overwrite=True, inputs=[proj / "cameras"])
    with pytest.raises(OutputError, match="contains the input"):
        OutputFolder.prepare(proj, overwrite=True, inputs=[proj / "cameras" / "c1.mp4"])
    assert _listing(proj) == before


def test_output_folder_reached_through_a_link_still_sees_the_overlap(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "cams").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(proj, target_is_directory=True)
    with pytest.raises(OutputError, match="contains the input"):
        OutputFolder.prepare(link, overwrite=True, inputs=[proj / "cams"])


def test_remove_tree_keeps_foreign_files_inside_our_folder(tmp_path: Path) -> None:
    import numpy as np

    out = tmp_path / "out"
    OutputFolder.prepare(out)
    write_image(out / "crops" / "c1" / "1" / "000001_0.jpg", np.zeros((8, 8, 3), np.uint8))
    (out / "crops" / "c1" / "user.txt").write_text("mine")
    kept = remove_tree(out / "crops" / "c1")
    assert (out / "crops" / "c1" / "user.txt").exists()
    assert not (out / "crops" / "c1" / "1").exists()
    assert "crops/c1" in kept


def test_a_worker_attached_to_the_folder_records_into_the_same_ledger(tmp_path: Path) -> None:
    import multiprocessing as mp

    out = tmp_path / "out"
    OutputFolder.prepare(out)
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=_worker_writes, args=(str(out),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert (out / "cameras" / "c1" / "status.json").exists()
    OutputFolder.prepare(out, overwrite=True)
    assert not (out / "cameras").exists()


def _worker_writes(root: str) -> None:
    OutputFolder.attach(root)
    atomic_write_text(Path(root) / "cameras" / "c1" / "status.json", "{}")


def test_full_disk_becomes_an_output_error_naming_the_file_and_the_free_space(tmp_path: Path) -> None:
    from tests_support import small_tmpfs

    with small_tmpfs(tmp_path / "tiny", "64k") as tiny:
        OutputFolder.prepare(tiny / "out")
        with pytest.raises(OutputError) as info:
            atomic_write_text(tiny / "out" / "big.txt", "x" * 200_000)
        assert "big.txt" in str(info.value) and "free" in str(info.value)
        assert not (tiny / "out" / "big.txt").exists()
        assert [p.name for p in (tiny / "out").iterdir() if p.name != LEDGER] == []


def test_read_only_folder_becomes_an_output_error(tmp_path: Path) -> None:
    from tests_support import small_tmpfs

    with small_tmpfs(tmp_path / "ro", "64k", read_only=True) as ro:
        with pytest.raises(OutputError, match="read-only|Read-only"):
            OutputFolder.prepare(ro / "out")
    assert os.path.isdir(tmp_path / "ro")


def _write_and_clean(root: str, worker: int, rounds: int) -> None:
    """One camera worker of a run: writes crops, and removes folders of them again (as rejoining does)."""
    from reid.outputs import OutputFolder, remove_tree

    OutputFolder.attach(root)
    base = Path(root) / "crops" / f"cam{worker}"
    for r in range(rounds):
        for k in range(3):
            atomic_write_text(base / str(r) / f"{k}.txt", "x")
        if r % 2:
            remove_tree(base / str(r - 1))  # a rejoined piece: its folder goes


def test_workers_writing_and_cleaning_one_folder_at_once_lose_no_ledger_entry(tmp_path: Path) -> None:
    # three camera workers of one run share the run's folder and its ledger; each appends entries while the
    # others rewrite the ledger after deleting: no worker fails, and the ledger lists exactly what is there
    import multiprocessing as mp

    root = tmp_path / "out"
    with active_folders():
        OutputFolder.prepare(root)
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_write_and_clean, args=(str(root), w, 40)) for w in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0, 0]
    listed = {line.split(" ", 1)[1] for line in (root / LEDGER).read_text().splitlines()}
    present = {str(p.relative_to(root)) for p in root.rglob("*") if p.name != LEDGER}
    assert listed == present
    assert len([p for p in present if p.endswith(".txt")]) == 3 * 20 * 3
