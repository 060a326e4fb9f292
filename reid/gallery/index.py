"""The faiss side of the gallery: inner-product search over L2-normalised tracklet vectors.

Ids in the index are SQLite row ids of the tracklets table (an ``IndexIDMap``), so a search result points
straight at a stored row. The index is a derived structure: the store keeps every vector, and the index can be
rebuilt from it at any time, which is how a stale index file (a crash between the database commit and the index
save) is repaired. Saving goes through ``faiss.serialize_index`` to bytes and an atomic file replace.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reid.errors import GalleryError
from reid.gallery.config import IndexConfig
from reid.io import atomic_write


def _faiss():
    import faiss

    return faiss


def gpu_available(cfg: IndexConfig) -> bool:
    """Whether searches run on the GPU: faiss has a GPU and the config allows it."""
    if cfg.use_gpu == "never":
        return False
    faiss = _faiss()
    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


class VectorIndex:
    """An id-mapped faiss index of one dimension; CPU copy is the one saved, a GPU copy (if any) is searched."""

    def __init__(self, dim: int, cfg: IndexConfig | None = None, index=None) -> None:
        self.dim = int(dim)
        self.cfg = cfg or IndexConfig()
        self._cpu = index if index is not None else self._new_flat()
        self._gpu = None
        self._gpu_res = None

    # -- construction -------------------------------------------------------------------------------------
    def _new_flat(self):
        faiss = _faiss()
        return faiss.IndexIDMap(faiss.IndexFlatIP(self.dim))

    def _new_trained(self, vectors: np.ndarray):
        """A fresh index of the configured kind, trained on ``vectors`` where the kind needs training."""
        faiss = _faiss()
        kind = self.cfg.kind
        if kind == "ivf":
            nlist = self.cfg.nlist
            trained_on = min(len(vectors), self.cfg.max_train)
            if trained_on < 39 * nlist:
                # too few training points for the configured cells (faiss wants 39 per cell): fewer cells,
                # or exact search for tiny galleries
                nlist = max(1, trained_on // 39)
            if nlist < 4:
                return self._new_flat()
            quantizer = faiss.IndexFlatIP(self.dim)
            ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            if len(vectors) > self.cfg.max_train:  # k-means on a sample: same cells, a fraction of the time
                rng = np.random.default_rng(0)
                ivf.train(vectors[np.sort(rng.choice(len(vectors), self.cfg.max_train, replace=False))])
            else:
                ivf.train(vectors)
            ivf.nprobe = min(self.cfg.nprobe, nlist)
            return faiss.IndexIDMap(ivf)
        if kind == "hnsw":
            hnsw = faiss.IndexHNSWFlat(self.dim, self.cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efSearch = self.cfg.hnsw_ef_search
            return faiss.IndexIDMap(hnsw)
        return self._new_flat()

    @classmethod
    def build(cls, vectors: np.ndarray, ids: np.ndarray, dim: int, cfg: IndexConfig | None = None) -> VectorIndex:
        """A new index of ``cfg.kind`` holding ``vectors`` (N, dim) under ``ids`` (N,)."""
        index = cls(dim, cfg)
        vectors = _as_matrix(vectors, dim)
        index._cpu = index._new_trained(vectors) if len(vectors) else index._new_flat()
        index.add(vectors, ids)
        return index

    # -- use ----------------------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return int(self._cpu.ntotal)

    @property
    def kind(self) -> str:
        faiss = _faiss()
        inner = faiss.downcast_index(self._cpu.index) if hasattr(self._cpu, "index") else self._cpu
        if isinstance(inner, faiss.IndexIVF):
            return "ivf"
        if isinstance(inner, faiss.IndexHNSW):
            return "hnsw"
        return "flat"

    @property
    def nlist(self) -> int | None:
        """Number of IVF cells (None for other kinds)."""
        faiss = _faiss()
        inner = faiss.downcast_index(self._cpu.index) if hasattr(self._cpu, "index") else self._cpu
        return int(inner.nlist) if isinstance(inner, faiss.IndexIVF) else None

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Add rows ``vectors`` (N, dim) with int64 ``ids`` (N,)."""
        vectors = _as_matrix(vectors, self.dim)
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if len(ids) != len(vectors):
            raise ValueError("VectorIndex.add: one id per vector")
        if len(ids):
            self._cpu.add_with_ids(vectors, ids)
            self._gpu = None

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (similarities, ids) per query row; missing neighbours have id -1 and similarity -inf."""
        queries = _as_matrix(queries, self.dim)
        k = max(1, int(k))
        if self.ntotal == 0 or len(queries) == 0:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        sims, ids = self._searcher().search(queries, min(k, self.ntotal))
        if sims.shape[1] < k:
            pad = k - sims.shape[1]
            sims = np.hstack([sims, np.full((len(queries), pad), -np.inf, np.float32)])
            ids = np.hstack([ids, np.full((len(queries), pad), -1, np.int64)])
        sims = np.where(ids < 0, -np.inf, sims).astype(np.float32)
        return sims, ids.astype(np.int64)

    def _searcher(self):
        if not gpu_available(self.cfg) or self.kind == "hnsw":
            return self._cpu
        if self._gpu is None:
            faiss = _faiss()
            if self._gpu_res is None:
                self._gpu_res = faiss.StandardGpuResources()
            self._gpu = faiss.index_cpu_to_gpu(self._gpu_res, 0, self._cpu)
        return self._gpu

    def content(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (id (N,), vector (N, dim)) the index holds, as stored (flat, IVF-flat and HNSW keep the raw
        float32 vectors), in the index's internal order."""
        faiss = _faiss()
        n = self.ntotal
        if n == 0:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        idmap = faiss.downcast_index(self._cpu)
        ids = faiss.vector_to_array(idmap.id_map).astype(np.int64)
        inner = faiss.downcast_index(idmap.index)
        if isinstance(inner, faiss.IndexIVF):
            inner.make_direct_map(True)  # IVF reconstructs by id only through a direct map; dropped again below
            try:
                vectors = inner.reconstruct_n(0, n)
            finally:
                inner.make_direct_map(False)
        else:
            vectors = inner.reconstruct_n(0, n)
        return ids, np.asarray(vectors, np.float32)

    def content_digest(self) -> int:
        """:func:`reid.gallery.store.content_digest` of what the index holds."""
        from reid.gallery.store import content_digest

        return content_digest(*self.content())

    # -- persistence --------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return bytes(_faiss().serialize_index(self._cpu))

    def save(self, path: str | Path) -> None:
        """Write the index atomically: a crash leaves the previous file or the new one, never half of one."""
        with atomic_write(path, "wb") as handle:
            handle.write(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path, dim: int, cfg: IndexConfig | None = None) -> VectorIndex:
        """Read an index file; a corrupt file or one of another dimension is a :class:`GalleryError`."""
        faiss = _faiss()
        path = Path(path)
        try:
            data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
            index = faiss.deserialize_index(data)
        except Exception as exc:
            raise GalleryError(
                f"gallery index {path} is corrupt or not a faiss index ({type(exc).__name__})",
                "delete the file to rebuild it from the gallery database",
            ) from exc
        if index.d != dim:
            raise GalleryError(f"gallery index {path} holds {index.d}-d vectors, the gallery database says {dim}")
        return cls(dim, cfg, index=index)


def _as_matrix(vectors: np.ndarray, dim: int) -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim == 1 and array.size == dim:
        array = array.reshape(1, dim)
    if array.size == 0:
        return np.zeros((0, dim), np.float32)
    if array.ndim != 2 or array.shape[1] != dim:
        raise GalleryError(f"vectors of shape {array.shape} do not match the gallery's dimension {dim}")
    return array
