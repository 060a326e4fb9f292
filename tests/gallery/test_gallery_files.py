"""A gallery file that is not a good reid gallery is refused without a byte changed, and the faiss index is
checked against the database by content: any index that does not hold exactly the database's vectors is rebuilt."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reid.errors import GalleryError
from reid.gallery.gallery import DB_NAME, INDEX_NAME, Gallery
from reid.gallery.index import VectorIndex
from reid.gallery.store import content_digest

from .tracklets import DIM, rows


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every entry of ``folder``: what must not change when a gallery is refused."""
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir())}


def make_gallery(root: Path, runs: int = 2, seed: int = 0) -> Path:
    with Gallery.open(root, embedder="x", dim=DIM) as g:
        for r in range(runs):
            g.add_run(f"run{r}", "src", {f"c{r}": {}}, rows(40, f"c{r}", 1 + 40 * r, seed=seed + r),
                      list(range(1 + 40 * r, 41 + 40 * r)))
    return root


def foreign_sqlite(path: Path, wal: bool) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.executemany("INSERT INTO people VALUES (?)", [(f"p{i}",) for i in range(500)])
    conn.commit()
    conn.close()


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Gallery folders whose database is each kind of bad file, with the cause the refusal must name."""
    cases: dict[str, tuple[Path, str]] = {}

    def folder(name: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        return path

    foreign_sqlite(folder("foreign") / DB_NAME, wal=False)
    cases["foreign"] = (tmp_path / "foreign", "another program")
    foreign_sqlite(folder("foreign_wal") / DB_NAME, wal=True)
    cases["foreign_wal"] = (tmp_path / "foreign_wal", "another program")
    (folder("empty") / DB_NAME).write_bytes(b"")
    cases["empty"] = (tmp_path / "empty", "empty file")
    (folder("text") / DB_NAME).write_bytes(b"this is not sqlite at all" * 40)
    cases["text"] = (tmp_path / "text", "not a SQLite database")
    good = make_gallery(tmp_path / "good_source")
    data = (good / DB_NAME).read_bytes()
    (folder("truncated") / DB_NAME).write_bytes(data[: len(data) // 2])
    cases["truncated"] = (tmp_path / "truncated", "truncated")
    page = int.from_bytes(data[16:18], "big")
    damaged = bytearray(data)
    damaged[2 * page:3 * page] = np.random.default_rng(1).integers(0, 256, page, dtype=np.uint8).tobytes()
    (folder("damaged") / DB_NAME).write_bytes(bytes(damaged))
    cases["damaged"] = (tmp_path / "damaged", "corrupt")
    garbage = bytearray(data[:100]) + np.random.default_rng(2).integers(0, 256, len(data) - 100, np.uint8).tobytes()
    (folder("garbage") / DB_NAME).write_bytes(bytes(garbage))
    cases["garbage"] = (tmp_path / "garbage", "corrupt")
    return cases


def test_bad_gallery_files_are_refused_byte_for_byte_unchanged(tmp_path: Path) -> None:
    for name, (root, cause) in bad_files(tmp_path).items():
        before = snapshot(root)
        for kwargs in ({"embedder": "x", "dim": DIM}, {"create": False}, {"create": True, "lock": True}):
            with pytest.raises(GalleryError, match=cause):
                Gallery.open(root, **kwargs)
            assert snapshot(root) == before, f"{name}: the refused gallery changed"


def test_cli_refuses_bad_gallery_in_one_line_without_touching_it(tmp_path: Path) -> None:
    cases = bad_files(tmp_path)
    for name in ("foreign_wal", "empty", "damaged"):
        root, cause = cases[name]
        before = snapshot(root)
        proc = subprocess.run([sys.executable, "-m", "reid_cli.main", "gallery", "info", str(root)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and cause in lines[0], proc.stderr
        assert snapshot(root) == before


def assert_index_matches_database(root: Path) -> None:
    with Gallery.open(root, create=False) as g:
        ids, vectors = g.store.vectors()
        assert g.index.ntotal == len(ids)
        assert g.index.content_digest() == content_digest(ids, vectors) == g.store.digest()[0]
        hits = g.search(vectors, k=1)
        assert [h[0].tracklet.row_id for h in hits] == ids.tolist()
    saved = VectorIndex.load(root / INDEX_NAME, DIM)
    assert saved.content_digest() == content_digest(ids, vectors)


def test_index_with_other_content_is_rebuilt_even_with_the_right_count(tmp_path: Path) -> None:
    root = make_gallery(tmp_path / "g")
    other = make_gallery(tmp_path / "other", seed=7)  # same ids and count, other vectors
    shutil.copyfile(other / INDEX_NAME, root / INDEX_NAME)
    assert VectorIndex.load(root / INDEX_NAME, DIM).ntotal == 80
    assert_index_matches_database(root)

    index = VectorIndex.load(root / INDEX_NAME, DIM)
    ids, vectors = index.content()
    vectors[5, 0] += 1e-3  # one number of one vector
    VectorIndex.build(vectors, ids, DIM).save(root / INDEX_NAME)
    assert_index_matches_database(root)


def test_index_behind_or_ahead_of_the_database_is_rebuilt(tmp_path: Path) -> None:
    root = make_gallery(tmp_path / "g", runs=1)
    behind = (root / INDEX_NAME).read_bytes()
    ahead_root = tmp_path / "ahead"
    shutil.copytree(root, ahead_root)
    with Gallery.open(ahead_root, embedder="x", dim=DIM) as g:  # an index saved by a run whose commit failed
        g.add_run("extra", "src", {"c9": {}}, rows(3, "c9", 41, seed=9), [41, 42, 43])
    with Gallery.open(root, embedder="x", dim=DIM) as g:
        g.add_run("run1", "src", {"c1": {}}, rows(40, "c1", 41, seed=1), list(range(41, 81)))
    (root / INDEX_NAME).write_bytes(behind)  # the crash came before the index save
    assert_index_matches_database(root)
    shutil.copyfile(ahead_root / INDEX_NAME, root / INDEX_NAME)
    assert_index_matches_database(root)
    (root / INDEX_NAME).unlink()
    assert_index_matches_database(root)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_index_kinds_report_their_content(kind: str) -> None:
    from reid.gallery.config import IndexConfig

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((400, DIM)).astype(np.float32)
    ids = np.arange(1000, 1400)
    index = VectorIndex.build(vecs, ids, DIM, IndexConfig(kind=kind, nlist=8, nprobe=8))
    assert index.kind == kind
    assert index.content_digest() == content_digest(ids, vecs)
    assert content_digest(ids[::-1], vecs[::-1]) == content_digest(ids, vecs)  # order-free
    assert content_digest(ids, vecs[::-1]) != content_digest(ids, vecs)  # but pairs count


def test_folder_with_other_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / INDEX_NAME).write_bytes(b"an index.faiss of some other tool")
    before = snapshot(folder)
    with pytest.raises(GalleryError, match="holds other files"):
        Gallery.open(folder, embedder="x", dim=DIM)
    assert snapshot(folder) == before
