"""Exact k-nearest-neighbour search by inner product (cosine for L2-normalised rows) through faiss.

Used where only the top K neighbours matter (re-ranking's neighbour lists). faiss keeps memory at
O(queries × K) instead of a full query × base matrix and uses the GPU when ``faiss.get_num_gpus() > 0``
(the faiss-gpu wheel runs as a CPU build on a machine without CUDA).

Order: within the K returned, neighbours are sorted by descending similarity, then ascending base index (the
tie rule of :mod:`reid.evaluation.metrics`). Which of several exactly tied items at the K-th place make it
into the list is faiss's choice.
"""

from __future__ import annotations

import numpy as np

from reid.errors import InputError


def use_faiss_gpu() -> bool:
    """True when faiss sees a CUDA device (and was built with GPU support)."""
    import faiss

    get = getattr(faiss, "get_num_gpus", None)
    return bool(get and get() > 0)


def knn_search(
    query: np.ndarray, base: np.ndarray, k: int, gpu: bool | None = None, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """``(similarities, indices)``, each (Q, k), of the ``k`` most similar base rows of each query row."""
    import faiss

    query = np.ascontiguousarray(query, dtype=np.float32)
    base = np.ascontiguousarray(base, dtype=np.float32)
    if query.ndim != 2 or base.ndim != 2 or query.shape[1] != base.shape[1]:
        raise InputError(f"k-NN search needs (Q, D) and (N, D) features, got {query.shape} and {base.shape}")
    if not 1 <= k <= len(base):
        raise InputError(f"k-NN search for {k} neighbours among {len(base)} items", "lower k (e.g. --k1)")
    index = faiss.IndexFlatIP(base.shape[1])
    if gpu if gpu is not None else use_faiss_gpu():
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(base)
    sims = np.empty((len(query), k), dtype=np.float32)
    idx = np.empty((len(query), k), dtype=np.int64)
    for start in range(0, len(query), chunk):
        s, i = index.search(query[start : start + chunk], k)
        sims[start : start + chunk], idx[start : start + chunk] = s, i
    # Deterministic order among ties: descending similarity, then ascending index.
    order = np.lexsort((idx, -sims), axis=-1)
    return np.take_along_axis(sims, order, axis=1), np.take_along_axis(idx, order, axis=1)
