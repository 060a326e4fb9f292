"""The SQLite side of the gallery: cameras, runs, tracklets (with their vectors), identities and a meta table.

WAL mode lets a reader (``reid gallery info``/``search``) look at the gallery while a run writes to it, and a
crash mid-write leaves the last committed state. The meta table names the file format, the embedding dimension
and the identity of the embedding network, so that a gallery is never mixed with vectors of another network,
and holds a digest of every (row id, vector) pair, updated in the transaction that adds the rows, against
which the faiss index is checked.

Writers take SQLite's write lock with ``BEGIN IMMEDIATE`` (:meth:`GalleryStore.write`): a second run that
writes the same gallery waits (and says so through a callback) until the first commits, then allocates its
identity ids inside its own transaction, so two runs never collide on an id. A file is checked read-only
(:mod:`reid.gallery.dbfile`) before this module opens it for writing.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reid.errors import GalleryError

FORMAT_NAME = "reid-gallery"
FORMAT_VERSION = 1
TABLES = ("meta", "runs", "cameras", "identities", "tracklets")
LOCK_TIMEOUT = 600.0  # seconds a writer waits for another run's write transaction before giving up
DIGEST_BITS = 128

# meta key of the linking report kept with each run (see GalleryStore.add_run)
RUN_REPORT_PREFIX = "run_report:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, source TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS cameras (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, fps REAL, start_time REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS identities (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tracklets (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    camera_id INTEGER NOT NULL REFERENCES cameras(id),
    track_id INTEGER NOT NULL,
    cls INTEGER NOT NULL,
    first_frame INTEGER NOT NULL,
    last_frame INTEGER NOT NULL,
    t_start REAL NOT NULL,
    t_end REAL NOT NULL,
    num_boxes INTEGER NOT NULL,
    identity_id INTEGER NOT NULL REFERENCES identities(id),
    crops TEXT NOT NULL,
    feature BLOB NOT NULL,
    UNIQUE (run_id, camera_id, track_id));
CREATE INDEX IF NOT EXISTS tracklets_identity ON tracklets(identity_id);
"""


@dataclass
class StoredTracklet:
    """One tracklet row. Times are absolute seconds (the camera's start time plus the time in its video)."""

    row_id: int
    camera: str
    track_id: int
    cls: int
    first_frame: int
    last_frame: int
    t_start: float
    t_end: float
    num_boxes: int
    identity: int
    run: str
    crops: list[str] = field(default_factory=list)
    feature: np.ndarray | None = None


def content_digest(ids: np.ndarray, vectors: np.ndarray) -> int:
    """Order-free digest of (row id, vector) pairs: the sum of each pair's BLAKE2b-128 modulo 2**128.

    A sum can be extended by the rows of one run without reading the others, and the faiss index can compute
    the same number from its own ids and vectors, so "the index holds exactly the database's vectors" is one
    comparison, whatever the order the index keeps them in. Vectors are hashed as float32 bytes.
    """
    ids = np.ascontiguousarray(np.asarray(ids, dtype="<i8").reshape(-1))
    if len(ids) == 0:
        return 0
    vectors = np.ascontiguousarray(np.asarray(vectors, dtype="<f4").reshape(len(ids), -1))
    rows = np.concatenate([ids.view(np.uint8).reshape(len(ids), 8), vectors.view(np.uint8)], axis=1)
    total = 0
    for row in rows:
        total += int.from_bytes(hashlib.blake2b(row.data, digest_size=DIGEST_BITS // 8).digest(), "little")
    return total % (1 << DIGEST_BITS)


def _digest_text(value: int) -> str:
    return f"{value:032x}"


@dataclass
class AddedRun:
    """What :meth:`GalleryStore.add_run` stored: the row ids (in the order of the rows given), the id each
    new identity received (``identities[proposed] = stored``; equal unless another run took those ids first)
    and the (digest, rows) of the database before this run."""

    row_ids: list[int]
    identities: dict[int, int]
    digest_before: tuple[int, int]


class GalleryBusy(GalleryError):
    """Another run held the gallery's write lock for longer than this writer would wait."""


def _db_errors(method):
    """A damaged database surfaces as a :class:`GalleryError` naming the file, never as sqlite3's exception."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise _failure(exc, self.path, "cannot use gallery database", "cannot be used",
                           "check --gallery; the database may be damaged") from exc

    return wrapper


class GalleryStore:
    """A connection to ``gallery.sqlite`` with the few queries the gallery needs."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self._depth = 0  # nesting of write() blocks: inner ones join the outer transaction
        self._on_end: list[Callable[[bool], None]] = []  # told whether the current write transaction committed
        self.read_only = False  # opened with open(read_only=True): every write is refused by SQLite

    # -- open ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, create: bool, read_only: bool = False) -> GalleryStore:
        """Open an existing store (checked read-only first), or create a new one when ``create`` is set.

        ``read_only`` opens it so that nothing is written, in it or beside it (no WAL switch, no lock files):
        a gallery on a read-only disk, or one this user may not write, can still be read.
        """
        from reid.gallery.dbfile import (
            check_database_file,
            connect_readonly,
            create_database,
            new_side_files,
            remove_new_side_files,
        )

        path = Path(path)
        if not path.exists() and not path.is_symlink():
            if not create or read_only:
                raise GalleryError(f"gallery database {path} does not exist", "check --gallery")
            create_database(path, SCHEMA, [("format", FORMAT_NAME), ("version", str(FORMAT_VERSION)),
                                           ("created", str(time.time())), ("content_digest", _digest_text(0)),
                                           ("content_rows", "0")])
        check_database_file(path, FORMAT_NAME, FORMAT_VERSION, TABLES)
        fresh, conn = new_side_files(path), None
        try:
            # one Gallery may be handed to another thread; its calls never overlap
            if read_only:
                store = cls(path, connect_readonly(path, timeout=30.0, isolation_level=None,
                                                   check_same_thread=False))
                store.read_only = True
                return store
            conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            remove_new_side_files(fresh)  # a failed open leaves the folder as it found it
            raise _failure(exc, path, "cannot open gallery database", "is corrupt or unreadable",
                           "check --gallery") from exc
        store = cls(path, conn)
        if "content_digest" not in store.meta():  # written by an earlier release: compute it once
            with store.write():
                ids, vectors = store.vectors()
                store._set_meta({"content_digest": _digest_text(content_digest(ids, vectors)),
                                 "content_rows": str(len(ids))})
        return store

    def close(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        finally:
            self._ended(committed=False)
            self.conn.close()

    @property
    def in_write(self) -> bool:
        """Whether a :meth:`write` transaction is open (a write now commits only when the outermost one ends)."""
        return self._depth > 0

    def when_written(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(committed)`` once the open write transaction ends, committed or rolled back: files
        saved beside the database inside it (the index) are kept or put back to match what the database kept."""
        if not self.in_write:
            raise RuntimeError("when_written() needs an open write() transaction")
        self._on_end.append(callback)

    def _ended(self, committed: bool) -> None:
        callbacks, self._on_end = self._on_end, []
        for callback in callbacks:
            callback(committed)

    @property
    def journal_mode(self) -> str:
        if self.read_only:  # an immutable connection reports "delete": the file's header says what it is
            with open(self.path, "rb") as handle:
                versions = handle.read(20)[18:20]
            return "wal" if versions == b"\x02\x02" else "delete"
        return str(self.conn.execute("PRAGMA journal_mode").fetchone()[0])

    # -- the write lock -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def write(self, on_wait: Callable[[str], None] | None = None,
              timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on an exception).

        If another connection holds the write lock, ``on_wait`` is called once with a message and the call
        waits up to ``timeout`` seconds for it; then a :class:`GalleryError` says the gallery is busy. A
        ``write()`` inside another joins the outer transaction.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._begin(on_wait, timeout)
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            try:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            finally:
                self._ended(committed=False)
            raise
        self._depth = 0
        try:
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            try:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            finally:
                self._ended(committed=False)
            raise _failure(exc, self.path, "cannot commit to gallery database", "could not commit the write",
                           "nothing of this run was stored; check the disk and run again") from exc
        self._ended(committed=True)

    def _begin(self, on_wait: Callable[[str], None] | None, timeout: float) -> None:
        try:
            self.conn.execute("PRAGMA busy_timeout=0")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise _failure(exc, self.path, "cannot write gallery database", "cannot be written",
                                   "check --gallery") from exc
            if timeout <= 0:
                raise GalleryBusy(f"gallery {self.path.parent} is being written by another run")
            if on_wait is not None:
                on_wait(f"gallery {self.path.parent} is being written by another run; waiting up to "
                        f"{timeout:.0f} s for it to finish")
            self.conn.execute(f"PRAGMA busy_timeout={int(max(0.0, timeout) * 1000)}")
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise _failure(exc, self.path, "cannot write gallery database", "cannot be written",
                                   "check --gallery") from exc
                raise GalleryBusy(
                    f"gallery {self.path.parent} is still being written by another run after {timeout:.0f} s",
                    "run again when the other run has finished, or use another --gallery",
                ) from exc
        finally:
            self.conn.execute("PRAGMA busy_timeout=30000")

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """One read transaction: every query inside sees the same committed state (WAL snapshot)."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------------------------
    @_db_errors
    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta"))

    @_db_errors
    def set_meta(self, values: dict[str, str], on_wait: Callable[[str], None] | None = None,
                 keep_existing: bool = False) -> None:
        """Write meta ``values``; with ``keep_existing`` a key that another run set first keeps its value."""
        with self.write(on_wait):
            self._set_meta(values, keep_existing)

    def _set_meta(self, values: dict[str, str], keep_existing: bool = False) -> None:
        conflict = "DO NOTHING" if keep_existing else "DO UPDATE SET value=excluded.value"
        self.conn.executemany(f"INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) {conflict}",
                              list(values.items()))

    @_db_errors
    def digest(self) -> tuple[int, int]:
        """(content digest, row count) of the committed tracklet vectors (see :func:`content_digest`)."""
        meta = self.meta()
        return int(meta.get("content_digest", "0"), 16), int(meta.get("content_rows", "0"))

    # -- queries ------------------------------------------------------------------------------------------
    @_db_errors
    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("runs", "cameras", "identities", "tracklets"):
            out[table] = int(self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        return out

    @_db_errors
    def run_report(self, key: str) -> dict | None:
        """The linking report stored with run ``key`` by :meth:`add_run` (None: none kept, or unreadable)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (RUN_REPORT_PREFIX + key,)).fetchone()
        if row is None:
            return None
        try:
            value = json.loads(row[0])
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    @_db_errors
    def run_exists(self, key: str) -> bool:
        return self.conn.execute("SELECT 1 FROM runs WHERE key=?", (key,)).fetchone() is not None

    @_db_errors
    def cameras(self) -> dict[str, dict]:
        rows = self.conn.execute("SELECT name, fps, start_time FROM cameras ORDER BY name")
        return {name: {"fps": fps, "start_time": start} for name, fps, start in rows}

    @_db_errors
    def max_identity(self) -> int:
        value = self.conn.execute("SELECT MAX(id) FROM identities").fetchone()[0]
        return int(value or 0)

    @_db_errors
    def tracklets(self, with_features: bool = True, ids: Iterable[int] | None = None,
                  run: str | None = None) -> list[StoredTracklet]:
        """Tracklet rows (all, those with the given row ids, or those of one run), ordered by row id."""
        cols = ("t.id, c.name, t.track_id, t.cls, t.first_frame, t.last_frame, t.t_start, t.t_end, t.num_boxes, "
                "t.identity_id, r.key, t.crops" + (", t.feature" if with_features else ""))
        sql = (f"SELECT {cols} FROM tracklets t JOIN cameras c ON c.id=t.camera_id JOIN runs r ON r.id=t.run_id")
        params: list = []
        if ids is not None:
            id_list = [int(i) for i in ids]
            if not id_list:
                return []
            sql += f" WHERE t.id IN ({','.join('?' * len(id_list))})"
            params = id_list
        elif run is not None:
            sql += " WHERE r.key=?"
            params = [run]
        sql += " ORDER BY t.id"
        out = []
        for row in self.conn.execute(sql, params):
            feature = np.frombuffer(row[12], dtype=np.float32).copy() if with_features else None
            out.append(StoredTracklet(
                row_id=row[0], camera=row[1], track_id=row[2], cls=row[3], first_frame=row[4], last_frame=row[5],
                t_start=row[6], t_end=row[7], num_boxes=row[8], identity=row[9], run=row[10],
                crops=json.loads(row[11]), feature=feature,
            ))
        return out

    @_db_errors
    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """All (row ids (N,), vectors (N, D)) to rebuild the faiss index from."""
        ids, vecs = [], []
        for row_id, blob in self.conn.execute("SELECT id, feature FROM tracklets ORDER BY id"):
            ids.append(row_id)
            vecs.append(np.frombuffer(blob, dtype=np.float32))
        if not vecs:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        sizes = sorted({v.size for v in vecs})
        if len(sizes) > 1:
            raise GalleryError(f"gallery {self.path.parent} holds vectors of {len(sizes)} sizes "
                               f"({', '.join(map(str, sizes[:3]))}): it was changed by another program",
                               "restore it from a copy, or start a new gallery")
        return np.asarray(ids, np.int64), np.vstack(vecs)

    # -- writes -------------------------------------------------------------------------------------------
    @_db_errors
    def add_run(self, key: str, source: str, cameras: dict[str, dict], rows: list[StoredTracklet],
                new_identities: Iterable[int], on_wait: Callable[[str], None] | None = None,
                before_commit: Callable[[AddedRun, np.ndarray], None] | None = None,
                timeout: float = LOCK_TIMEOUT, report: dict | None = None) -> AddedRun:
        """Add one run in a single write transaction: its cameras, its new identities and its tracklets.

        ``report`` (what linking chose: threshold, travel windows) is kept with the run, so a rerun whose own
        resume files were lost still tells what the gallery's answer was made with (:meth:`run_report`).

        New identity ids are allocated inside the transaction: ``new_identities`` are the ids the caller
        proposed (numbered after the largest id it saw); if another run has taken some of them since, all of
        this run's new identities are renumbered after the current largest id, in the same order, and
        :attr:`AddedRun.identities` says how. ``before_commit(added, vectors)`` runs inside the transaction
        (the gallery saves its index there). All or nothing: a crash or an error leaves the gallery as it was.
        """
        proposed = sorted({int(i) for i in new_identities})
        with self.write(on_wait, timeout):
            if self.run_exists(key):
                raise GalleryError(f"gallery {self.path.parent} already holds run {key}",
                                   "a run is stored once; start a new run to add it again")
            identities = self._allocate(proposed)
            self._check_rows(rows, identities)
            before = self.digest()
            now = time.time()
            run_id = self.conn.execute("INSERT INTO runs(key, source, created) VALUES (?, ?, ?)",
                                       (key, source, now)).lastrowid
            for name, info in cameras.items():
                self.conn.execute(
                    "INSERT INTO cameras(name, fps, start_time) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
                    (name, info.get("fps"), float(info.get("start_time", 0.0))),
                )
            cam_ids = dict(self.conn.execute("SELECT name, id FROM cameras"))
            self.conn.executemany("INSERT INTO identities(id, run_id, created) VALUES (?, ?, ?)",
                                  [(identities[i], run_id, now) for i in proposed])
            vectors = np.vstack([np.asarray(r.feature, np.float32).reshape(1, -1) for r in rows]) if rows else None
            row_ids = []
            for r, feature in zip(rows, vectors if vectors is not None else [], strict=True):
                cur = self.conn.execute(
                    "INSERT INTO tracklets(run_id, camera_id, track_id, cls, first_frame, last_frame, t_start, t_end,"
                    " num_boxes, identity_id, crops, feature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, cam_ids[r.camera], int(r.track_id), int(r.cls), int(r.first_frame), int(r.last_frame),
                     float(r.t_start), float(r.t_end), int(r.num_boxes), _stored_identity(r, identities),
                     json.dumps(r.crops), np.ascontiguousarray(feature).tobytes()),
                )
                row_ids.append(int(cur.lastrowid))
            digest, count = before
            if row_ids:
                digest = (digest + content_digest(np.asarray(row_ids), vectors)) % (1 << DIGEST_BITS)
            self._set_meta({"content_digest": _digest_text(digest), "content_rows": str(count + len(row_ids))})
            if report is not None:
                self._set_meta({RUN_REPORT_PREFIX + key: json.dumps(report)})
            added = AddedRun(row_ids, identities, before)
            if before_commit is not None:
                before_commit(added, vectors if vectors is not None else np.zeros((0, 0), np.float32))
        return added

    @_db_errors
    def put_live_tracklet(self, key: str, source: str, cameras: dict[str, dict], row: StoredTracklet,
                          new_identity: bool, row_id: int | None = None,
                          on_wait: Callable[[str], None] | None = None) -> tuple[int, int]:
        """Store one tracklet of a live run in one write transaction; returns (row id, identity id).

        The run row is created with the first tracklet. With ``row_id`` the row of an earlier emission of the
        same track is updated (a long stay: its newest vector replaces the old one). A ``new_identity`` whose
        id another writer took meanwhile gets the next free id, inside the transaction. The content digest
        follows the change (the old vector's hash out, the new one's in).
        """
        with self.write(on_wait):
            found = self.conn.execute("SELECT id FROM runs WHERE key = ?", (key,)).fetchone()
            run_id = int(found[0]) if found else int(self.conn.execute(
                "INSERT INTO runs(key, source, created) VALUES (?, ?, ?)", (key, source, time.time())).lastrowid)
            for name, info in cameras.items():
                self.conn.execute(
                    "INSERT INTO cameras(name, fps, start_time) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
                    (name, info.get("fps"), float(info.get("start_time", 0.0))))
            identity = int(row.identity)
            exists = self.conn.execute("SELECT 1 FROM identities WHERE id = ?", (identity,)).fetchone()
            if new_identity and exists:
                identity = self.max_identity() + 1
            if new_identity or not exists:  # (an identity that another process removed meanwhile comes back)
                self.conn.execute("INSERT INTO identities(id, run_id, created) VALUES (?, ?, ?)",
                                  (identity, run_id, time.time()))
            feature = np.ascontiguousarray(np.asarray(row.feature, np.float32).reshape(1, -1))
            values = (int(row.cls), int(row.first_frame), int(row.last_frame), float(row.t_start),
                      float(row.t_end), int(row.num_boxes), identity, json.dumps(row.crops), feature.tobytes())
            digest, count = self.digest()
            if row_id is not None:
                old = self.conn.execute("SELECT feature FROM tracklets WHERE id = ?", (row_id,)).fetchone()
                if old is not None:
                    digest -= content_digest(np.asarray([row_id]), np.frombuffer(old[0], np.float32).reshape(1, -1))
                    count -= 1
                self.conn.execute("UPDATE tracklets SET cls=?, first_frame=?, last_frame=?, t_start=?, t_end=?, "
                                  "num_boxes=?, identity_id=?, crops=?, feature=? WHERE id=?", (*values, row_id))
            else:
                cam_id = self.conn.execute("SELECT id FROM cameras WHERE name = ?", (row.camera,)).fetchone()[0]
                row_id = int(self.conn.execute(
                    "INSERT INTO tracklets(run_id, camera_id, track_id, cls, first_frame, last_frame, t_start, "
                    "t_end, num_boxes, identity_id, crops, feature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, cam_id, int(row.track_id), *values)).lastrowid)
            digest = (digest + content_digest(np.asarray([row_id]), feature)) % (1 << DIGEST_BITS)
            self._set_meta({"content_digest": _digest_text(digest), "content_rows": str(count + 1)})
        return row_id, identity

    @_db_errors
    def reassign(self, key: str, source: str, identities: dict[int, int], new_identities: Iterable[int]) -> int:
        """Give tracklet rows new identities (``identities[row id] = identity``) in one write transaction.

        ``new_identities`` are created under a run ``key`` that records the relinking; identities left without
        any tracklet are removed. Vectors do not change, so neither does the content digest. Returns the number
        of rows whose identity changed.
        """
        with self.write():
            run_id = int(self.conn.execute("INSERT INTO runs(key, source, created) VALUES (?, ?, ?)",
                                           (key, source, time.time())).lastrowid)
            self.conn.executemany("INSERT INTO identities(id, run_id, created) VALUES (?, ?, ?)",
                                  [(int(i), run_id, time.time()) for i in sorted(set(new_identities))])
            changed = 0
            for row_id, identity in identities.items():
                cur = self.conn.execute("UPDATE tracklets SET identity_id=? WHERE id=? AND identity_id<>?",
                                        (int(identity), int(row_id), int(identity)))
                changed += cur.rowcount
            self.conn.execute("DELETE FROM identities WHERE id NOT IN (SELECT DISTINCT identity_id FROM tracklets)")
        return changed

    def _allocate(self, proposed: list[int]) -> dict[int, int]:
        """Ids for the proposed new identities: as proposed when they are all free, else after the largest."""
        if not proposed:
            return {}
        taken = self.conn.execute(
            f"SELECT COUNT(*) FROM identities WHERE id IN ({','.join('?' * len(proposed))})", proposed
        ).fetchone()[0]
        if not taken:
            return {i: i for i in proposed}
        start = self.max_identity() + 1
        return {old: start + k for k, old in enumerate(proposed)}

    def _check_rows(self, rows: list[StoredTracklet], identities: dict[int, int]) -> None:
        """Refuse rows the schema would refuse, with a message instead of an IntegrityError."""
        seen: set[tuple[str, int]] = set()
        known = {int(r.identity) for r in rows} - set(identities)
        if known:
            listed = sorted(known)
            found = {r[0] for r in self.conn.execute(
                f"SELECT id FROM identities WHERE id IN ({','.join('?' * len(listed))})", listed)}
            if known - found:
                raise GalleryError(f"tracklets refer to identity {min(known - found)}, which is neither new in "
                                   f"this run nor in gallery {self.path.parent}")
        for r in rows:
            if (r.camera, int(r.track_id)) in seen:
                raise GalleryError(f"tracklet {r.camera}/{r.track_id} appears twice in one run")
            seen.add((r.camera, int(r.track_id)))


def _stored_identity(row: StoredTracklet, identities: dict[int, int]) -> int:
    return identities.get(int(row.identity), int(row.identity))


def _failure(exc: sqlite3.DatabaseError, path: Path, what: str, problem: str, hint: str) -> GalleryError:
    """The disk's or the permissions' failure when it is one (:func:`reid.gallery.dbfile.sqlite_failure`),
    else ``gallery database PATH PROBLEM: EXC`` with ``hint``."""
    from reid.gallery.dbfile import sqlite_failure

    return sqlite_failure(exc, path, what) or GalleryError(f"gallery database {path} {problem}: {exc}", hint)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
