"""Two runs writing one gallery at the same time both succeed, one after the other: no IntegrityError, unique
identity ids, every run's tracklets stored, and an index that holds exactly the database's vectors."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from reid.errors import GalleryError
from reid.gallery.gallery import INDEX_NAME, Gallery
from reid.gallery.index import VectorIndex
from reid.gallery.store import content_digest

from .tracklets import DIM, rows

# One run in its own process. Steps are ordered through marker files (no sleeps that a test relies on):
# "<role>.opened" once the gallery is open, and it waits for the files named in --wait-for before adding.
WORKER = r'''
import json, sys, time
from pathlib import Path
import numpy as np
from reid.gallery.gallery import Gallery
from reid.gallery.store import StoredTracklet

root, sync, role, lock, wait_for = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1", sys.argv[5:]

def wait(name):
    deadline = time.monotonic() + 120
    while not (sync / name).exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{role}: gave up waiting for {name}")
        time.sleep(0.02)

def on_wait(message):
    (sync / f"{role}.waiting").write_text(message)

if role == "second" and lock:
    wait("first.opened")  # the first run holds the lock: this open has to wait for it
gallery = Gallery.open(root, embedder="net", dim=8, lock=lock, on_wait=on_wait)
start = gallery.next_identity()  # read before telling the other run: both views can be stale on purpose
(sync / f"{role}.opened").write_text("")
for name in wait_for:
    wait(name)
rng = np.random.default_rng(abs(hash(role)) % 1000)
rows = []
for i in range(20):
    v = rng.standard_normal(8).astype(np.float32)
    rows.append(StoredTracklet(-1, f"cam-{role}", i + 1, 2, 0, 9, float(i), i + 1.0, 10, start + i, "", [],
                               v / np.linalg.norm(v)))
added = gallery.add_run(f"run-{role}", role, {f"cam-{role}": {"fps": 8}}, rows, list(range(start, start + 20)),
                        on_wait=on_wait)
gallery.close()
print(json.dumps({"proposed": start, "identities": sorted(added.identities.values()), "rows": added.row_ids}))
'''


def start_worker(script: Path, root: Path, sync: Path, role: str, lock: bool, *wait_for: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(script), str(root), str(sync), role, "1" if lock else "0",
                             *wait_for], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "IntegrityError" not in err and "Traceback" not in err, err
    return json.loads(out.strip().splitlines()[-1])


def assert_consistent(root: Path, runs: int, tracklets: int) -> None:
    """Every run stored, identity ids unique per tracklet, and the index holding exactly the database's vectors."""
    with Gallery.open(root, create=False) as g:
        counts = g.store.counts()
        assert counts["runs"] == runs and counts["tracklets"] == tracklets
        stored = g.tracklets(with_features=False)
        assert len({t.identity for t in stored}) == tracklets  # every tracklet here is its own identity
        ids, vectors = g.store.vectors()
        assert g.index.ntotal == tracklets and g.index.content_digest() == content_digest(ids, vectors)
        assert [h[0].tracklet.row_id for h in g.search(vectors, k=1)] == ids.tolist()
    assert VectorIndex.load(root / INDEX_NAME, DIM).content_digest() == content_digest(ids, vectors)


def test_second_run_waits_for_the_first_then_both_are_stored(tmp_path: Path) -> None:
    script, sync, root = tmp_path / "worker.py", tmp_path / "sync", tmp_path / "gallery"
    script.write_text(WORKER)
    sync.mkdir()
    Gallery.open(root, embedder="net", dim=DIM).close()
    first = start_worker(script, root, sync, "first", True, "second.waiting")  # holds the lock until then
    second = start_worker(script, root, sync, "second", True)
    a, b = finish(first), finish(second)
    assert "being written by another run" in (sync / "second.waiting").read_text()
    assert a["identities"] == list(range(1, 21)) and b["identities"] == list(range(21, 41))
    assert b["proposed"] == 21  # it read the gallery after the first run's commit: one after the other
    assert_consistent(root, runs=2, tracklets=40)


def test_runs_that_both_read_the_gallery_first_get_new_ids_in_their_transaction(tmp_path: Path) -> None:
    script, sync, root = tmp_path / "worker.py", tmp_path / "sync", tmp_path / "gallery"
    script.write_text(WORKER)
    sync.mkdir()
    Gallery.open(root, embedder="net", dim=DIM).close()
    # no session lock: both open and propose ids 1..20 before either writes
    first = start_worker(script, root, sync, "first", False, "second.opened")
    second = start_worker(script, root, sync, "second", False, "first.opened")
    a, b = finish(first), finish(second)
    assert a["proposed"] == b["proposed"] == 1
    assert sorted(a["identities"] + b["identities"]) == list(range(1, 41))
    assert_consistent(root, runs=2, tracklets=40)


def test_many_writers_with_stale_views_keep_the_gallery_consistent(tmp_path: Path) -> None:
    root = tmp_path / "gallery"
    Gallery.open(root, embedder="net", dim=DIM).close()
    galleries = [Gallery.open(root, embedder="net", dim=DIM) for _ in range(4)]  # all opened before any write
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for r in range(3):
                g = galleries[k]
                start = g.next_identity()
                g.add_run(f"w{k}-r{r}", "s", {f"cam{k}": {}}, rows(5, f"cam{k}", start, seed=10 * k + r),
                          list(range(start, start + 5)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            galleries[k].close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert_consistent(root, runs=12, tracklets=60)


def test_a_writer_that_waits_too_long_is_refused_with_a_clear_line(tmp_path: Path) -> None:
    root = tmp_path / "gallery"
    Gallery.open(root, embedder="net", dim=DIM).close()
    holder = Gallery.open(root, embedder="net", dim=DIM, lock=True)
    holder.add_run("held", "s", {"c": {}}, rows(3, "c", 1, seed=0), [1, 2, 3])
    messages: list[str] = []
    with pytest.raises(GalleryError, match="still being written by another run") as info:
        Gallery.open(root, embedder="net", dim=DIM, lock=True, on_wait=messages.append, lock_timeout=0.2)
    assert "\n" not in str(info.value) and len(messages) == 1
    other = Gallery.open(root, embedder="net", dim=DIM)  # a reader is not blocked
    with pytest.raises(GalleryError, match="still being written"):
        other.store.add_run("late", "s", {"c2": {}}, rows(2, "c2", 4, seed=1), [4, 5], timeout=0.2)
    other.close()
    holder.close()
    assert_consistent(root, runs=1, tracklets=3)


def test_waiting_writer_proceeds_when_the_lock_is_released(tmp_path: Path) -> None:
    root = tmp_path / "gallery"
    Gallery.open(root, embedder="net", dim=DIM).close()
    holder = Gallery.open(root, embedder="net", dim=DIM, lock=True)
    threads: list[threading.Thread] = []

    def release_when_asked(message: str) -> None:  # the waiting writer tells us it waits: let the holder finish
        def finish_holder() -> None:
            start = holder.next_identity()
            holder.add_run("first", "s", {"c1": {}}, rows(4, "c1", start, seed=2), list(range(start, start + 4)))
            holder.close()

        threads.append(threading.Thread(target=finish_holder))
        threads[-1].start()

    with Gallery.open(root, embedder="net", dim=DIM, lock=True, on_wait=release_when_asked) as g:
        start = g.next_identity()
        assert threads and start == 5  # it waited, and got the lock after the holder's run was committed
        g.add_run("second", "s", {"c2": {}}, rows(4, "c2", start, seed=3), list(range(start, start + 4)))
    threads[0].join(timeout=60)
    assert_consistent(root, runs=2, tracklets=8)
