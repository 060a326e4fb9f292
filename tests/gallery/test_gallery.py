"""The gallery folder: round trip, stable ids, WAL mode, atomic index saves and refusal of foreign galleries."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from reid.errors import GalleryError
from reid.gallery.config import IndexConfig
from reid.gallery.gallery import DB_NAME, INDEX_NAME, Gallery
from reid.gallery.index import VectorIndex

from .tracklets import DIM, rows


def test_round_trip_ids_stable_and_searchable(tmp_path: Path) -> None:
    root = tmp_path / "g"
    with Gallery.open(root, embedder="net-A", dim=DIM) as g:
        first = rows(5, "cam1", 1)
        ids = g.add_run("run1", "src", {"cam1": {"fps": 10, "start_time": 0}}, first, [1, 2, 3, 4, 5]).row_ids
        assert g.next_identity() == 6
    with Gallery.open(root, embedder="net-A", dim=DIM) as g:
        assert g.index is not None and g.index.ntotal == 5
        hits = g.search(np.vstack([r.feature for r in first]), k=3)
        for r, row_id, h in zip(first, ids, hits, strict=True):
            assert h[0].tracklet.row_id == row_id
            assert h[0].tracklet.identity == r.identity
            assert h[0].similarity == pytest.approx(1.0, abs=1e-5)
            assert h[0].tracklet.camera == "cam1" and h[0].tracklet.crops == r.crops
        more = rows(3, "cam2", 6, seed=1)
        new_ids = g.add_run("run2", "src2", {"cam2": {"fps": 10, "start_time": 100}}, more, [6, 7, 8]).row_ids
        assert min(new_ids) > max(ids)
        stored = {t.row_id: t.identity for t in g.tracklets(with_features=False)}
        assert all(stored[i] == r.identity for i, r in zip(ids, first, strict=True))
        assert g.info()["identities"] == 8 and g.info()["cameras"] == 2
        assert g.has_run("run1") and not g.has_run("run3")


def test_wal_mode(tmp_path: Path) -> None:
    with Gallery.open(tmp_path / "g", embedder="x", dim=DIM) as g:
        assert g.store.journal_mode.lower() == "wal"
    conn = sqlite3.connect(tmp_path / "g" / DB_NAME)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"


def test_crash_while_saving_the_index_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "g"
    with Gallery.open(root, embedder="x", dim=DIM) as g:
        g.add_run("r1", "s", {"c": {}}, rows(4, "c", 1), [1, 2, 3, 4])
    before = (root / INDEX_NAME).read_bytes()

    def crash(self):  # the process dies while serialising the new index
        raise KeyboardInterrupt

    with Gallery.open(root, embedder="x", dim=DIM) as g:
        monkeypatch.setattr(VectorIndex, "to_bytes", crash)
        with pytest.raises(KeyboardInterrupt):
            g.add_run("r2", "s", {"c2": {}}, rows(2, "c2", 5, seed=3), [5, 6])
        monkeypatch.undo()
    # the old index file is intact, no temporary file is left behind, and the run is not half stored
    assert (root / INDEX_NAME).read_bytes() == before
    assert sorted(p.name for p in root.iterdir() if p.name.endswith(".tmp")) == []
    with Gallery.open(root, embedder="x", dim=DIM) as g:
        assert not g.has_run("r2") and g.store.counts()["tracklets"] == 4 and g.index.ntotal == 4
        g.add_run("r2", "s", {"c2": {}}, rows(2, "c2", 5, seed=3), [5, 6])  # and it can be added again
        assert g.search(rows(2, "c2", 5, seed=3)[1].feature, k=1)[0][0].tracklet.identity == 6


def test_other_embedding_network_refused(tmp_path: Path) -> None:
    with Gallery.open(tmp_path / "g", embedder="net-A", dim=DIM):
        pass
    with pytest.raises(GalleryError, match="net-A"):
        Gallery.open(tmp_path / "g", embedder="net-B", dim=DIM)
    with pytest.raises(GalleryError, match="16-d"):
        Gallery.open(tmp_path / "g", embedder="net-A", dim=16)


def test_foreign_or_corrupt_gallery_refused_and_never_overwritten(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(GalleryError, match="refusing"):
        Gallery.open(other, embedder="x", dim=DIM)
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / DB_NAME).write_bytes(b"this is not sqlite at all" * 10)
    with pytest.raises(GalleryError, match="not a SQLite"):
        Gallery.open(corrupt, embedder="x", dim=DIM)

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    conn = sqlite3.connect(foreign / DB_NAME)
    conn.execute("CREATE TABLE people (name TEXT)")
    conn.commit()
    conn.close()
    size = (foreign / DB_NAME).stat().st_size
    with pytest.raises(GalleryError, match="another program"):
        Gallery.open(foreign, embedder="x", dim=DIM)
    assert (foreign / DB_NAME).stat().st_size == size

    with Gallery.open(tmp_path / "ok", embedder="x", dim=DIM) as g:
        g.add_run("r", "s", {"c": {}}, rows(2, "c", 1), [1, 2])
    (tmp_path / "ok" / INDEX_NAME).write_bytes(b"garbage")  # the index is derived: rebuilt from the database
    with Gallery.open(tmp_path / "ok", embedder="x", dim=DIM) as g:
        assert g.index.ntotal == 2 and g.search(rows(2, "c", 1)[1].feature, k=1)[0][0].tracklet.identity == 2


@pytest.mark.parametrize("kind", ["flat", "ivf", "hnsw"])
def test_index_kinds_find_exact_copies(kind: str) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((400, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1000, 1400)
    index = VectorIndex.build(vecs, ids, DIM, IndexConfig(kind=kind, nlist=8, nprobe=8))
    sims, found = index.search(vecs[:20], k=1)
    assert (found[:, 0] == ids[:20]).mean() >= 0.95
    assert sims[0, 0] == pytest.approx(1.0, abs=1e-4)


def test_export_csv(tmp_path: Path) -> None:
    with Gallery.open(tmp_path / "g", embedder="x", dim=DIM) as g:
        g.add_run("r", "s", {"c": {}}, rows(3, "c", 1), [1, 2, 3])
        assert g.export_csv(tmp_path / "out.csv") == 3
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0].startswith("global_id,camera,track_id")
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3"]


def test_linking_report_is_kept_with_its_run(tmp_path: Path) -> None:
    """What linking chose is stored with the run, so a rerun whose manifest was lost can still show it."""
    report = {"threshold": {"threshold": 0.61, "source": "calibrated"}, "camera_bias": True}
    with Gallery.open(tmp_path / "g", embedder="net", dim=DIM) as g:
        g.add_run("r1", "s", {"c": {}}, rows(2, "c", 1), [1, 2], report=report)
        g.add_run("r2", "s", {"c": {}}, rows(2, "c", 3, seed=2), [3, 4])
    with Gallery.open(tmp_path / "g", create=False) as g:
        assert g.store.run_report("r1") == report
        assert g.store.run_report("r2") is None  # none given
        assert g.store.run_report("unknown") is None
