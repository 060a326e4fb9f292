"""The gallery folder: ``gallery.sqlite`` (the truth: every tracklet, its vector and identity) beside
``index.faiss`` (the search structure, derived from the database and rebuilt from it when stale).

A gallery remembers which embedding network made its vectors; opening it with another network is refused,
because distances between vectors of two networks mean nothing. A folder that holds something other than a
gallery is never overwritten.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.errors import GalleryError
from reid.gallery.config import IndexConfig
from reid.gallery.index import VectorIndex
from reid.gallery.store import LOCK_TIMEOUT, AddedRun, GalleryBusy, GalleryStore, StoredTracklet
from reid.io import atomic_write

DB_NAME = "gallery.sqlite"
INDEX_NAME = "index.faiss"


@dataclass
class Match:
    """A search hit: the similarity and the stored tracklet it points at."""

    similarity: float
    tracklet: StoredTracklet


class Gallery:
    """A persistent gallery of tracklet vectors and their global identities."""

    def __init__(self, root: Path, store: GalleryStore, index: VectorIndex | None, cfg: IndexConfig) -> None:
        self.root = root
        self.store = store
        self.index = index
        self.cfg = cfg
        self._index_digest: tuple[int, int] | None = None  # (digest, rows) of self.index's content
        self._session = None  # the write transaction held from open() to close() with lock=True
        self._index_kept = False  # the open write transaction keeps the index file it replaced
        self.read_only = store.read_only

    # -- open ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path, embedder: str | None = None, dim: int | None = None,
             cfg: IndexConfig | None = None, create: bool = True, weights: str | None = None,
             lock: bool = False, on_wait: Callable[[str], None] | None = None,
             lock_timeout: float = LOCK_TIMEOUT, read_only: bool = False) -> Gallery:
        """Open the gallery in folder ``root`` (creating it when ``create``), checking it matches the network.

        ``embedder`` is the embedding network's identity (``CropEmbedder.identity``) and ``dim`` its output
        dimension; either is checked against what the gallery recorded when it was first written. ``weights``
        (the checkpoint path) is remembered so that ``reid gallery search`` can find the network by itself.
        With ``lock`` the gallery holds the write lock from here until :meth:`close` (committed) or an
        exception in a ``with`` block (rolled back): a run that reads the gallery, links against it and adds
        to it is then one transaction, and a second run waits for it (``on_wait`` hears about that once, and
        after ``lock_timeout`` seconds the wait ends in a :class:`GalleryError`).

        ``read_only`` (what ``reid gallery info/search/export`` use) writes nothing at all, so that a gallery on a
        read-only disk or one this user may not write can be read: SQLite opens it with ``mode=ro`` (see
        :func:`reid.gallery.dbfile.connect_readonly`), a network is compared but not recorded, and a stale
        ``index.faiss`` is rebuilt in memory only.
        """
        root = Path(root)
        cfg = cfg or IndexConfig()
        if read_only and (create or lock):
            raise ValueError("a gallery opened read_only is neither created nor locked")
        db = _database_path(root, create)
        store = GalleryStore.open(db, create=create, read_only=read_only)
        gallery = cls(root, store, None, cfg)
        try:
            gallery._check_network(embedder, dim, weights, on_wait)
            if lock:
                gallery._session = store.write(on_wait, lock_timeout)
                gallery._session.__enter__()
            gallery._load_index(on_wait)
        except BaseException:
            gallery._end(error=True)
            raise
        return gallery

    def _check_network(self, embedder: str | None, dim: int | None, weights: str | None,
                       on_wait: Callable[[str], None] | None) -> None:
        """Record the network on first use (committed at once, first writer wins), then refuse another one."""
        meta = self.store.meta()
        updates = {}
        if embedder is not None and "embedder" not in meta:
            updates["embedder"] = embedder
        if dim is not None and "dim" not in meta:
            updates["dim"] = str(dim)
        if weights is not None and "weights" not in meta:
            updates["weights"] = str(Path(weights).resolve())
        if updates and not self.read_only:
            self.store.set_meta(updates, on_wait, keep_existing=True)
            meta = self.store.meta()
        if embedder is not None and meta.get("embedder") != embedder:
            raise GalleryError(
                f"gallery {self.root} was built with embedding network {meta['embedder']}, not {embedder}",
                "use the checkpoint the gallery was built with, or a new --gallery folder",
            )
        if dim is not None and meta.get("dim") != str(dim):
            raise GalleryError(f"gallery {self.root} holds {meta['dim']}-d vectors, the embedding network makes {dim}-d")

    def close(self) -> None:
        """Close the gallery; with ``lock``, commit what this session wrote."""
        self._end(error=False)

    def _end(self, error: bool) -> None:
        session, self._session = self._session, None
        try:
            if session is not None:
                if error:
                    with contextlib.suppress(BaseException):
                        session.__exit__(GalleryError, GalleryError("aborted"), None)
                else:
                    session.__exit__(None, None, None)
        finally:
            self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._end(error=exc_type is not None)

    @property
    def dim(self) -> int | None:
        value = self.store.meta().get("dim")
        return int(value) if value is not None else None

    @property
    def embedder(self) -> str | None:
        return self.store.meta().get("embedder")

    # -- the index, checked against the database by content ----------------------------------------------
    def _load_index(self, on_wait: Callable[[str], None] | None = None) -> None:
        """Use ``index.faiss`` if it holds exactly the database's (row id, vector) pairs, else rebuild it.

        The check is by content (:func:`reid.gallery.store.content_digest`), not by count: an index that was
        saved by a run whose commit then failed, one copied from another gallery, or one a crash left behind
        is rebuilt from the database, which is the truth.
        """
        if self.dim is None:
            return
        if self._index_file_matches():
            return
        if self.read_only:  # nothing may be written: search the committed vectors from memory
            self._index_in_memory()
            return
        try:
            with self.store.write(timeout=0.0):  # rebuild under the write lock (another run may have fixed it)
                if not self._index_file_matches():
                    self.rebuild_index()
        except GalleryBusy:
            # another run is writing (its index file may be ahead of what it has committed): search the
            # committed vectors from memory and leave the file to the writer
            self._index_in_memory()

    def _index_in_memory(self) -> None:
        with self.store.reading():
            ids, vectors = self.store.vectors()
            self.index = VectorIndex.build(vectors.reshape(-1, self.dim), ids, self.dim, self.cfg)
            self._index_digest = self.store.digest()

    def _index_file_matches(self) -> bool:
        from reid.gallery.dbfile import check_regular_file

        path = self.root / INDEX_NAME
        expected = self.store.digest()
        if not path.exists() and not path.is_symlink():
            return False
        check_regular_file(path, "gallery index")  # a FIFO or a device would block or never end
        try:
            index = VectorIndex.load(path, self.dim, self.cfg)
        except GalleryError:
            return False  # damaged: the database rebuilds it
        if index.ntotal != expected[1] or index.content_digest() != expected[0]:
            return False
        self.index, self._index_digest = index, expected
        return True

    def rebuild_index(self, cfg: IndexConfig | None = None) -> None:
        """Rebuild ``index.faiss`` from the vectors in the database (optionally as another index kind)."""
        if cfg is not None:
            self.cfg = cfg
        dim = self.dim
        if dim is None:
            return
        with self.store.write():
            ids, vectors = self.store.vectors()
            self.index = VectorIndex.build(vectors.reshape(-1, dim), ids, dim, self.cfg)
            self._save_index()
            self._index_digest = self.store.digest()

    def _save_index(self) -> None:
        """Save ``self.index`` as ``index.faiss`` inside the open write transaction, keeping the file it replaces
        (a hard link under a hidden temporary name) until the transaction ends: put back if the database did
        not commit, so a failed commit leaves every gallery file as it was, and removed if it did."""
        path = self.root / INDEX_NAME
        if not self._index_kept:
            self._index_kept = True
            kept = _link_aside(path)
            self.store.when_written(lambda committed: self._settle_index(kept, committed))
        self.index.save(path)

    def _settle_index(self, kept: Path | None, committed: bool) -> None:
        """End of the transaction that saved the index (see :meth:`_save_index`)."""
        self._index_kept = False
        if not committed:
            self.index, self._index_digest = None, None  # may hold rows the database did not keep
        if kept is None:
            return  # nothing to put back: a stale index.faiss is rebuilt from the database on the next open
        with contextlib.suppress(OSError):
            if not committed:
                os.replace(kept, self.root / INDEX_NAME)
            kept.unlink(missing_ok=True)  # rename() leaves both names when they are one file (the save failed)

    # -- content ------------------------------------------------------------------------------------------
    def tracklets(self, with_features: bool = True) -> list[StoredTracklet]:
        return self.store.tracklets(with_features=with_features)

    def has_run(self, key: str) -> bool:
        return self.store.run_exists(key)

    def next_identity(self) -> int:
        return self.store.max_identity() + 1

    def add_run(self, key: str, source: str, cameras: dict[str, dict], rows: list[StoredTracklet],
                new_identities: list[int], on_wait: Callable[[str], None] | None = None,
                timeout: float = LOCK_TIMEOUT, report: dict | None = None) -> AddedRun:
        """Store one run's tracklets and new identities, and extend and save the index, in one transaction.

        The index is saved before the commit, so a run that another run is waiting for never leaves an index
        behind its database; if the commit fails after the save, the index file it replaced is put back
        (:meth:`_save_index`), and where that was not possible the next open finds the index ahead of the
        database and rebuilds it. Returns the row ids and the identity ids given (see :class:`AddedRun`).
        """
        if self.dim is None:
            raise GalleryError(f"gallery {self.root} has no embedding dimension yet", "open it with dim=")
        for r in rows:
            if r.feature is None or np.asarray(r.feature).size != self.dim:
                raise GalleryError(f"tracklet {r.camera}/{r.track_id} has no {self.dim}-d vector")

        def extend_index(added: AddedRun, vectors: np.ndarray) -> None:
            stale = self.index is None or self._index_digest != added.digest_before  # another run wrote since
            if stale or (self.index.kind == "flat" and self.cfg.kind != "flat"):
                self.rebuild_index()  # from the database as this transaction sees it, the new rows included
                return
            self.index.add(vectors.reshape(-1, self.dim), added.row_ids)
            self._save_index()
            self._index_digest = self.store.digest()

        try:
            return self.store.add_run(key, source, cameras, rows, new_identities, on_wait, extend_index, timeout,
                                      report=report)
        except BaseException:
            self.index, self._index_digest = None, None  # may hold rows the database did not keep
            raise

    def search(self, vectors: np.ndarray, k: int = 10) -> list[list[Match]]:
        """The ``k`` most similar stored tracklets of each query vector, best first."""
        if self.index is None and self.dim is not None:
            self._load_index()
        if self.index is None or self.index.ntotal == 0:
            return [[] for _ in range(len(np.atleast_2d(vectors)))]
        sims, ids = self.index.search(vectors, k)
        rows = {t.row_id: t for t in self.store.tracklets(with_features=False, ids={int(i) for i in ids.ravel() if i >= 0})}
        return [[Match(float(s), rows[int(i)]) for s, i in zip(srow, irow, strict=True) if i >= 0 and int(i) in rows]
                for srow, irow in zip(sims, ids, strict=True)]

    def info(self) -> dict:
        """Counts, the network identity, the index kind and sizes: what ``reid gallery info`` shows."""
        meta = self.store.meta()
        counts = self.store.counts()
        return {
            "path": str(self.root),
            "format": f"{meta.get('format')} v{meta.get('version')}",
            "embedder": meta.get("embedder", "-"),
            "dim": meta.get("dim", "-"),
            "weights": meta.get("weights", "-"),
            **counts,
            "index": self.index.kind if self.index is not None else "none",
            "index_vectors": self.index.ntotal if self.index is not None else 0,
            "journal_mode": self.store.journal_mode,
            "cameras_list": sorted(self.store.cameras()),
        }

    def export_csv(self, path: str | Path) -> int:
        """Write one row per tracklet (identity, camera, times, frames, crops) to ``path``; returns the row count.

        The file may replace an earlier export, never another file, and never lies inside the gallery."""
        from reid.output_files import CSV_HEADER, is_gallery_csv
        from reid.outputs import check_output_file

        check_output_file(path, True, [self.root], is_gallery_csv, "gallery export", "--csv")
        rows = self.store.tracklets(with_features=False)
        with atomic_write(path, "w") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER.split(","))
            for t in sorted(rows, key=lambda r: (r.identity, r.t_start, r.camera)):
                writer.writerow([t.identity, t.camera, t.track_id, t.run, f"{t.t_start:.3f}", f"{t.t_end:.3f}",
                                 t.first_frame, t.last_frame, t.num_boxes, t.cls, ";".join(t.crops)])
        return len(rows)


def _link_aside(path: Path) -> Path | None:
    """A hard link to ``path`` under a hidden temporary name beside it (``.index.faiss.XXXX.tmp``, the family of
    :func:`reid.io.atomic_write`'s temporaries, so the output folder's clean-up and the gallery's folder check
    treat a crash's leftover as one), or None where there is no file or the file system cannot link."""
    import uuid

    from reid.outputs import claim

    if path.is_symlink() or not path.is_file():
        return None
    claim(path)  # the save that follows replaces it: refused here as there if it is not this project's
    kept = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        os.link(path, kept)
    except OSError:
        return None
    return kept


def wait_reporter(progress: Callable[..., None] | None) -> Callable[[str], None] | None:
    """An ``on_wait`` for :meth:`Gallery.open` that tells a run's progress callback why linking waits:
    ``progress(0, None, camera=None, stage="link", waiting=message)``."""
    if progress is None:
        return None

    def on_wait(message: str) -> None:
        progress(0, None, camera=None, stage="link", waiting=message)

    return on_wait


def _database_path(root: Path, create: bool) -> Path:
    """``root/gallery.sqlite``, after refusing a root that is a file or a folder of something else."""
    from reid.gallery.dbfile import is_temporary, os_failure

    if root.exists() and not root.is_dir():
        raise GalleryError(f"gallery path {root} is a file, not a gallery folder", "check --gallery")
    db = root / DB_NAME
    if db.exists() or db.is_symlink():
        return db
    if not create:
        if not root.exists():
            raise GalleryError(f"gallery folder {root} does not exist", "check --gallery")
        raise GalleryError(f"{root} is not a reid gallery (no {DB_NAME})", "check --gallery")
    try:
        others = sorted(p.name for p in root.iterdir() if not is_temporary(p.name)) if root.is_dir() else []
    except OSError as exc:
        raise os_failure(exc, root, "cannot read gallery folder") from None
    if others:
        raise GalleryError(
            f"gallery folder {root} holds other files ({', '.join(others[:3])}) and no {DB_NAME}; "
            "refusing to write a gallery there",
            "point --gallery at an existing gallery or at a new folder",
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_failure(exc, root, "cannot create gallery folder") from None
    return db
