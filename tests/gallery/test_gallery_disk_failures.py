"""A gallery on a full disk, a read-only disk or behind a permission error is reported as that, never as a damaged
gallery; a special file under a gallery name is refused before anything opens it; and a gallery that cannot be
written can still be read by ``reid gallery info/search/export``.

The tests run as root, whom ``chmod`` does not stop, so a read-only gallery is also made by letting SQLite open
nothing but ``mode=ro`` URIs, and a full disk by making a write raise what a full disk raises."""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from reid.errors import GalleryError
from reid.gallery.dbfile import os_failure, sqlite_failure
from reid.gallery.gallery import DB_NAME, INDEX_NAME, Gallery
from reid.gallery.store import GalleryStore

from .test_gallery_files import make_gallery
from .tracklets import DIM, rows


def contents(folder: Path) -> dict[str, str]:
    """sha256 of every regular file of ``folder``: what a refused or failed write must leave as it was."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture()
def no_hang():
    """Fail the test instead of hanging it, should a special file be opened after all."""
    def hung(*_):
        raise AssertionError("opening the gallery hung")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


class _Failing:
    """A stand-in for a store's sqlite3 connection whose statements starting with ``prefix`` raise ``error``."""

    def __init__(self, conn: sqlite3.Connection, prefix: str, error: Exception) -> None:
        self._conn, self._prefix, self._error = conn, prefix, error

    def execute(self, sql: str, *args):
        if sql.lstrip().upper().startswith(self._prefix):
            raise self._error
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


# ------------------------------------------------------------------------------------------ special files

def test_special_files_under_gallery_names_are_refused_at_once(tmp_path: Path, no_hang) -> None:
    cases = {}
    for name in ("fifo", "zero", "null", "folder", "dangling", "wal_fifo", "index_fifo"):
        cases[name] = tmp_path / name
    cases["fifo"].mkdir()
    os.mkfifo(cases["fifo"] / DB_NAME)  # a read would wait for a writer forever
    cases["zero"].mkdir()
    (cases["zero"] / DB_NAME).symlink_to("/dev/zero")  # a read would never end
    cases["null"].mkdir()
    (cases["null"] / DB_NAME).symlink_to("/dev/null")
    (cases["folder"] / DB_NAME).mkdir(parents=True)
    cases["dangling"].mkdir()
    (cases["dangling"] / DB_NAME).symlink_to(tmp_path / "nowhere.sqlite")
    make_gallery(cases["wal_fifo"], runs=1)
    os.mkfifo(cases["wal_fifo"] / f"{DB_NAME}-wal")
    make_gallery(cases["index_fifo"], runs=1)
    (cases["index_fifo"] / INDEX_NAME).unlink()
    os.mkfifo(cases["index_fifo"] / INDEX_NAME)
    expected = {"fifo": "is a FIFO, not a regular file", "zero": "is a character device, not a regular file",
                "null": "is a character device", "folder": "is a folder, not a regular file",
                "dangling": "is a symbolic link to .*nowhere.sqlite, which does not exist",
                "wal_fifo": "side file .*-wal is a FIFO", "index_fifo": "gallery index .* is a FIFO"}
    for name, root in cases.items():
        before = sorted(os.listdir(root))
        for kwargs in ({"create": False, "read_only": True}, {"embedder": "x", "dim": DIM}, {"lock": True}):
            with pytest.raises(GalleryError, match=expected[name]) as info:
                Gallery.open(root, **kwargs).close()
            assert "\n" not in str(info.value)
        assert sorted(os.listdir(root)) == before, name
    assert (cases["fifo"] / DB_NAME).is_fifo() and not (tmp_path / "nowhere.sqlite").exists()


def test_cli_refuses_a_fifo_gallery_in_one_line(tmp_path: Path, reid_main, no_hang) -> None:
    (tmp_path / "g").mkdir()
    os.mkfifo(tmp_path / "g" / DB_NAME)
    for args in (("gallery", "info", str(tmp_path / "g")),
                 ("gallery", "export", str(tmp_path / "g"), "--csv", str(tmp_path / "out.csv"))):
        code, out, err = reid_main(*args)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and "is a FIFO, not a regular file" in lines[0], out + err
    assert not (tmp_path / "out.csv").exists()


# ------------------------------------------------------------------------------------------ the real cause

@pytest.mark.parametrize(("message", "cause"), [
    ("database or disk is full", "No space left on device"),
    ("attempt to write a readonly database", "Permission denied"),
    ("unable to open database file", "Permission denied"),
    ("disk I/O error", "Input/output error"),
])
def test_sqlite_failures_of_the_disk_name_their_cause_not_damage(message: str, cause: str, tmp_path: Path) -> None:
    error = sqlite_failure(sqlite3.OperationalError(message), tmp_path / DB_NAME, "cannot write gallery database")
    assert error is not None and cause in error.message and message in error.message
    assert "corrupt" not in str(error) and "damaged" not in str(error)
    if "full" in message:
        assert " free on " in error.message
    assert sqlite_failure(sqlite3.DatabaseError("file is not a database"), tmp_path / DB_NAME, "x") is None


def test_a_read_only_file_system_is_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reid.gallery.dbfile._read_only_file_system", lambda path: True)
    error = sqlite_failure(sqlite3.OperationalError("attempt to write a readonly database"), tmp_path / DB_NAME,
                           "cannot write gallery database")
    assert "Read-only file system" in error.message and "info, search and export still read it" in error.hint


@pytest.mark.parametrize(("number", "cause"), [(errno.ENOSPC, "No space left on device"),
                                               (errno.EROFS, "Read-only file system"),
                                               (errno.EACCES, "Permission denied"),
                                               (errno.EPERM, "Operation not permitted")])
def test_os_failures_on_gallery_files_name_their_cause(number: int, cause: str, tmp_path: Path) -> None:
    error = os_failure(OSError(number, os.strerror(number)), tmp_path / DB_NAME, "cannot create gallery database")
    assert cause in error.message and str(tmp_path / DB_NAME) in error.message and "--gallery" in error.hint
    assert (" free on " in error.message) == (number == errno.ENOSPC)


def test_full_disk_while_adding_a_run_is_one_line_and_the_gallery_unchanged(tmp_path: Path) -> None:
    from .test_gallery_files import assert_index_matches_database

    root = make_gallery(tmp_path / "g", runs=1)
    before = contents(root)[DB_NAME]  # the index, saved before the commit, is rebuilt when it is ahead
    for prefix, error in (("INSERT INTO RUNS", sqlite3.OperationalError("database or disk is full")),
                          ("COMMIT", sqlite3.OperationalError("database or disk is full"))):
        with Gallery.open(root, embedder="x", dim=DIM) as g:
            g.store.conn = _Failing(g.store.conn, prefix, error)
            with pytest.raises(GalleryError, match="No space left on device.* free on ") as info:
                g.add_run("run1", "src", {"c1": {}}, rows(5, "c1", 41, seed=1), list(range(41, 46)))
            g.store.conn = g.store.conn._conn
        assert "corrupt" not in str(info.value) and "damaged" not in str(info.value), prefix
        assert contents(root)[DB_NAME] == before, prefix
    with Gallery.open(root, create=False) as g:
        assert g.store.counts()["tracklets"] == 40
    assert_index_matches_database(root)


def test_full_disk_while_saving_the_index_is_one_line_and_the_database_unchanged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reid.errors import ReidError

    root = make_gallery(tmp_path / "g", runs=1)
    before = contents(root)

    def full(_fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with Gallery.open(root, embedder="x", dim=DIM) as g:
        monkeypatch.setattr("reid.io.os.fsync", full)
        with pytest.raises(ReidError, match=f"{INDEX_NAME}: No space left on device; .* free on "):
            g.add_run("run1", "src", {"c1": {}}, rows(5, "c1", 41, seed=1), list(range(41, 46)))
        monkeypatch.undo()
    assert contents(root) == before


@pytest.mark.parametrize("lock", [False, True])
def test_a_commit_on_a_full_disk_leaves_every_gallery_file_as_it_was(tmp_path: Path, lock: bool) -> None:
    """The index is saved inside the transaction; when the COMMIT then fails, the replaced index.faiss is put
    back, so the database and the index both stay as they were (with ``lock`` the COMMIT is at close)."""
    root = make_gallery(tmp_path / "g", runs=1)
    before = contents(root)
    full = sqlite3.OperationalError("database or disk is full")
    with pytest.raises(GalleryError, match="No space left on device.* free on "):
        with Gallery.open(root, embedder="x", dim=DIM, lock=lock) as g:
            if not lock:
                g.store.conn = _Failing(g.store.conn, "COMMIT", full)
            g.add_run("run1", "src", {"c1": {}}, rows(5, "c1", 41, seed=1), list(range(41, 46)))
            assert contents(root)[INDEX_NAME] != before[INDEX_NAME]  # saved before the commit
            g.store.conn = _Failing(g.store.conn, "COMMIT", full)
    assert contents(root) == before and sorted(os.listdir(root)) == sorted(before)
    with Gallery.open(root, embedder="x", dim=DIM) as g:  # and a commit that succeeds drops the kept file
        g.add_run("run1", "src", {"c1": {}}, rows(5, "c1", 41, seed=1), list(range(41, 46)))
    assert sorted(os.listdir(root)) == sorted(before) and contents(root)[INDEX_NAME] != before[INDEX_NAME]


def test_opening_a_gallery_on_a_full_disk_names_the_full_disk_and_creates_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite says "disk I/O error" when it cannot grow its -wal/-shm files: with no space left that is a full
    disk (with the free space), and the empty side files the failed open made are removed again."""
    import shutil

    root = make_gallery(tmp_path / "g", runs=1)
    before = contents(root)
    assert not any(name.endswith(("-wal", "-shm")) for name in before)
    real_connect = sqlite3.connect

    def full_connect(database, *args, uri: bool = False, **kwargs):
        if uri:  # the read-only check before the open creates nothing and works on a full disk
            return real_connect(database, *args, uri=uri, **kwargs)
        for side in ("-wal", "-shm"):
            Path(f"{database}{side}").write_bytes(b"")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("reid.gallery.store.sqlite3.connect", full_connect)
    for free, cause in ((0, r"No space left on device.*disk I/O error.*; 0 B free on "),
                        (10 << 30, "Input/output error")):
        monkeypatch.setattr("reid.outputs.shutil.disk_usage", lambda _p, free=free: shutil._ntuple_diskusage(
            20 << 30, (20 << 30) - free, free))
        with pytest.raises(GalleryError, match=cause) as info:
            Gallery.open(root, embedder="x", dim=DIM)
        assert "\n" not in str(info.value) and "corrupt" not in str(info.value)
        assert ("free some space" in info.value.hint) == (free == 0)
        assert contents(root) == before and sorted(os.listdir(root)) == sorted(before)


def test_a_gallery_that_may_not_be_written_fails_writes_with_the_cause(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_gallery(tmp_path / "g", runs=1)
    before = contents(root)
    with Gallery.open(root, embedder="x", dim=DIM) as g:
        g.store.conn = _Failing(g.store.conn, "BEGIN IMMEDIATE",
                                sqlite3.OperationalError("attempt to write a readonly database"))
        with pytest.raises(GalleryError, match="Permission denied .*readonly database") as info:
            g.add_run("run1", "src", {"c1": {}}, rows(5, "c1", 41, seed=1), list(range(41, 46)))
        g.store.conn = g.store.conn._conn
    assert "may not write" in info.value.hint and contents(root) == before

    def denied(*args, **kwargs):
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr("reid.gallery.dbfile.sqlite3.connect", denied)
    with pytest.raises(GalleryError, match="cannot create gallery database .*Permission denied"):
        Gallery.open(tmp_path / "new", embedder="x", dim=DIM)
    monkeypatch.undo()

    def no_mkdir(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(Path, "mkdir", no_mkdir)
    with pytest.raises(GalleryError, match="cannot create gallery folder .*Permission denied"):
        Gallery.open(tmp_path / "elsewhere" / "g", embedder="x", dim=DIM)


# ------------------------------------------------------------------------------------------ reading only

@pytest.fixture()
def unwritable(monkeypatch: pytest.MonkeyPatch):
    """``protect(root)`` makes every gallery file unwritable for this process: folder and files chmod -w (which
    stops a user who is not root), SQLite refuses any connection but a ``mode=ro`` one, and no file can be
    created through :func:`reid.io.atomic_write` (``only_reads=False`` lets other folders be written)."""
    import tempfile

    real_connect, real_mkstemp = sqlite3.connect, tempfile.mkstemp
    changed: list[Path] = []

    def read_only_connect(database, *args, uri: bool = False, **kwargs):
        if not (uri and "mode=ro" in str(database)):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real_connect(database, *args, uri=uri, **kwargs)

    def protect(root: Path) -> None:
        def mkstemp(*args, dir=None, **kwargs):
            if dir is not None and Path(dir).resolve() == root.resolve():
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
            return real_mkstemp(*args, dir=dir, **kwargs)

        monkeypatch.setattr(sqlite3, "connect", read_only_connect)
        monkeypatch.setattr("reid.io.tempfile.mkstemp", mkstemp)
        for path in [*root.iterdir(), root]:
            path.chmod(path.stat().st_mode & ~0o222)
            changed.append(path)

    yield protect
    for path in changed:
        path.chmod(path.stat().st_mode | 0o200)


def test_a_gallery_that_cannot_be_written_is_still_read(tmp_path: Path, unwritable, reid_main) -> None:
    root = make_gallery(tmp_path / "g", runs=2)
    (root / INDEX_NAME).unlink()  # a stale index: rebuilt in memory, never written
    unwritable(root)
    names, before = sorted(os.listdir(root)), contents(root)
    mtimes = {p.name: p.stat().st_mtime_ns for p in root.iterdir()}

    code, out, err = reid_main("gallery", "info", str(root))
    assert code == 0, out + err
    assert "wal" in out and "80" in out and "c0, c1" in out
    csv = tmp_path / "export.csv"
    code, out, err = reid_main("gallery", "export", str(root), "--csv", str(csv))
    assert code == 0 and len(csv.read_text().splitlines()) == 81, out + err

    with Gallery.open(root, create=False, read_only=True) as g:
        ids, vectors = g.store.vectors()
        hits = g.search(vectors[:3], k=1)
        assert [h[0].tracklet.row_id for h in hits] == ids[:3].tolist()
        assert g.index.ntotal == 80
    assert sorted(os.listdir(root)) == names and contents(root) == before
    assert {p.name: p.stat().st_mtime_ns for p in root.iterdir()} == mtimes


def test_search_reads_a_gallery_that_cannot_be_written(tmp_path: Path, unwritable, reid_main,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    root = make_gallery(tmp_path / "g", runs=1)
    with Gallery.open(root, create=False) as g:
        target = g.store.tracklets()[7]

    class Fixed:  # stands in for the network: the gallery is what is under test
        identity = "x"

        def embed(self, crops):
            return np.asarray([target.feature], np.float32)

    monkeypatch.setattr("reid.models.inference.CropEmbedder.from_checkpoint", lambda *a, **k: Fixed())
    cv2.imwrite(str(tmp_path / "car.png"), np.zeros((32, 32, 3), np.uint8))
    unwritable(root)
    before = contents(root)
    code, out, err = reid_main("gallery", "search", str(tmp_path / "car.png"), "--gallery", str(root),
                               "--reid-weights", str(tmp_path / "any.pt"), "-k", "1")
    assert code == 0, out + err
    table = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if "│" in line]
    assert table[0][:4] == ["1", "1.000", str(target.identity), target.camera]
    assert contents(root) == before and not (root / f"{DB_NAME}-wal").exists()


def test_a_write_to_a_gallery_that_cannot_be_written_is_one_line(tmp_path: Path, unwritable, reid_main) -> None:
    root = make_gallery(tmp_path / "g", runs=1)
    unwritable(root)
    before = contents(root)
    code, out, err = reid_main("gallery", "relink", str(root))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in out + err, out + err
    assert "Permission denied" in lines[0] and "corrupt" not in lines[0] and "damaged" not in lines[0]
    assert contents(root) == before


def test_read_only_store_refuses_to_write(tmp_path: Path) -> None:
    root = make_gallery(tmp_path / "g", runs=1)
    store = GalleryStore.open(root / DB_NAME, create=False, read_only=True)
    try:
        with pytest.raises(GalleryError, match="readonly"):
            store.set_meta({"k": "v"})
    finally:
        store.close()
    assert not (root / f"{DB_NAME}-wal").exists()
