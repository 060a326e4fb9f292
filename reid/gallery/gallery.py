"""The gallery folder: ``gallery.sqlite`` (the truth: every tracklet, its vector and identity) beside
``index.faiss`` (the search structure, derived from the database and rebuilt from it when stale).

A gallery remembers which embedding network made its vectors; opening it with another network is refused,
because distances between vectors of two networks mean nothing. A folder that holds something other than a
gallery is never overwritten.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.errors import GalleryError
from reid.gallery.config import IndexConfig
from reid.gallery.index import VectorIndex
from reid.gallery.store import GalleryStore, StoredTracklet
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

    # -- open ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | Path, embedder: str | None = None, dim: int | None = None,
             cfg: IndexConfig | None = None, create: bool = True, weights: str | None = None) -> Gallery:
        """Open the gallery in folder ``root`` (creating it when ``create``), checking it matches the network.

        ``embedder`` is the embedding network's identity (``CropEmbedder.identity``) and ``dim`` its output
        dimension; either is checked against what the gallery recorded when it was first written. ``weights``
        (the checkpoint path) is remembered so that ``reid gallery search`` can find the network by itself.
        """
        root = Path(root)
        cfg = cfg or IndexConfig()
        if root.exists() and not root.is_dir():
            raise GalleryError(f"gallery path {root} is a file, not a gallery folder", "check --gallery")
        db = root / DB_NAME
        if not db.exists():
            if not create:
                if not root.exists():
                    raise GalleryError(f"gallery folder {root} does not exist", "check --gallery")
                raise GalleryError(f"{root} is not a reid gallery (no {DB_NAME})", "check --gallery")
            if root.is_dir() and any(p.name != INDEX_NAME for p in root.iterdir()):
                raise GalleryError(
                    f"gallery folder {root} holds other files and no {DB_NAME}; refusing to write a gallery there",
                    "point --gallery at an existing gallery or at a new folder",
                )
            root.mkdir(parents=True, exist_ok=True)
            if (root / INDEX_NAME).exists():
                (root / INDEX_NAME).unlink()  # an index without its database is an orphan of an aborted creation
        store = GalleryStore.open(db, create=create)
        gallery = cls(root, store, None, cfg)
        meta = store.meta()
        if embedder is not None and meta.get("embedder") not in (None, embedder):
            store.close()
            raise GalleryError(
                f"gallery {root} was built with embedding network {meta['embedder']}, not {embedder}",
                "use the checkpoint the gallery was built with, or a new --gallery folder",
            )
        if dim is not None and meta.get("dim") not in (None, str(dim)):
            store.close()
            raise GalleryError(f"gallery {root} holds {meta['dim']}-d vectors, the embedding network makes {dim}-d")
        updates = {}
        if embedder is not None and "embedder" not in meta:
            updates["embedder"] = embedder
        if dim is not None and "dim" not in meta:
            updates["dim"] = str(dim)
        if weights is not None and "weights" not in meta:
            updates["weights"] = str(Path(weights).resolve())
        if updates:
            store.set_meta(updates)
        gallery._load_index()
        return gallery

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def dim(self) -> int | None:
        value = self.store.meta().get("dim")
        return int(value) if value is not None else None

    @property
    def embedder(self) -> str | None:
        return self.store.meta().get("embedder")

    def _load_index(self) -> None:
        dim = self.dim
        if dim is None:
            return
        path = self.root / INDEX_NAME
        count = self.store.counts()["tracklets"]
        if path.exists():
            index = VectorIndex.load(path, dim, self.cfg)
            if index.ntotal == count:
                self.index = index
                return
        # missing or stale (a crash after the database commit, before the index save): rebuild from the truth
        self.rebuild_index()

    def rebuild_index(self, cfg: IndexConfig | None = None) -> None:
        """Rebuild ``index.faiss`` from the vectors in the database (optionally as another index kind)."""
        if cfg is not None:
            self.cfg = cfg
        dim = self.dim
        if dim is None:
            return
        ids, vectors = self.store.vectors()
        self.index = VectorIndex.build(vectors.reshape(-1, dim), ids, dim, self.cfg)
        self.index.save(self.root / INDEX_NAME)

    # -- content ------------------------------------------------------------------------------------------
    def tracklets(self, with_features: bool = True) -> list[StoredTracklet]:
        return self.store.tracklets(with_features=with_features)

    def has_run(self, key: str) -> bool:
        return self.store.run_exists(key)

    def next_identity(self) -> int:
        return self.store.max_identity() + 1

    def add_run(self, key: str, source: str, cameras: dict[str, dict], rows: list[StoredTracklet],
                new_identities: list[int]) -> list[int]:
        """Store one run's tracklets and new identities, then extend and save the index. Returns row ids."""
        if self.dim is None:
            raise GalleryError(f"gallery {self.root} has no embedding dimension yet", "open it with dim=")
        for r in rows:
            if r.feature is None or np.asarray(r.feature).size != self.dim:
                raise GalleryError(f"tracklet {r.camera}/{r.track_id} has no {self.dim}-d vector")
        row_ids = self.store.add_run(key, source, cameras, rows, new_identities)
        if self.index is None or (self.index.kind == "flat" and self.cfg.kind != "flat"):
            self.rebuild_index()
        else:
            self.index.add(np.vstack([r.feature for r in rows]) if rows else np.zeros((0, self.dim)), row_ids)
            self.index.save(self.root / INDEX_NAME)
        return row_ids

    def search(self, vectors: np.ndarray, k: int = 10) -> list[list[Match]]:
        """The ``k`` most similar stored tracklets of each query vector, best first."""
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
        """Write one row per tracklet (identity, camera, times, frames, crops) to ``path``; returns the row count."""
        rows = self.store.tracklets(with_features=False)
        with atomic_write(path, "w") as handle:
            writer = csv.writer(handle)
            writer.writerow(["global_id", "camera", "track_id", "run", "t_start", "t_end", "first_frame",
                             "last_frame", "num_boxes", "class", "crops"])
            for t in sorted(rows, key=lambda r: (r.identity, r.t_start, r.camera)):
                writer.writerow([t.identity, t.camera, t.track_id, t.run, f"{t.t_start:.3f}", f"{t.t_end:.3f}",
                                 t.first_frame, t.last_frame, t.num_boxes, t.cls, ";".join(t.crops)])
        return len(rows)
