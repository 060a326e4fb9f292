"""Exact positive ranks from features, in bounded memory.

The metrics need, for every query, the rank of each of its positives in the ranked gallery (see
:mod:`reid.evaluation.metrics`). Sorting every gallery row would cost O(G log G) per query and a full
query × gallery matrix would not fit for large sets (VehicleID large: 19,777² float64 = 3.1 GB). Instead:

* similarities are computed for one block of queries at a time (float32, ``block_size`` rows, default 1024:
  1024 × 19,777 × 4 B = 81 MB), so memory is O(block_size × G), never O(Q × G);
* the rank of a positive with similarity ``t`` is the number of gallery items with similarity ``> t``, plus
  the items with similarity exactly ``t`` and a smaller gallery index (the tie rule of the metrics module).
  Only the items at least as similar as a query's hardest positive are sorted (few for a useful model,
  about all of them for random features), the rest of the row is one vectorised comparison;
* items removed from a query's list (itself, same identity and camera) are set to ``-inf`` so they never
  count. Features must be finite; a NaN or infinity is rejected up front (it would break every comparison).

Queries are processed in order of their number of positives, so a block pads little.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reid.errors import InputError
from reid.evaluation.metrics import PositiveRanks

Progress = Callable[..., None]


@dataclass(frozen=True)
class Csr:
    """Per-query column lists: ``indices[indptr[q]:indptr[q + 1]]`` are query ``q``'s gallery columns."""

    indptr: np.ndarray
    indices: np.ndarray

    def row(self, q: int) -> np.ndarray:
        return self.indices[self.indptr[q] : self.indptr[q + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    @classmethod
    def from_lists(cls, rows: list[np.ndarray]) -> Csr:
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=indptr[1:])
        indices = np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)
        return cls(indptr, indices)


def check_features(features: np.ndarray, what: str = "features") -> np.ndarray:
    """A C-contiguous (N, D) float32 copy-if-needed of ``features``, or an InputError for bad shapes/values."""
    arr = np.asarray(features)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{what} must be a non-empty (N, D) matrix, got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr).all(axis=1)))
        raise InputError(f"{what} has {bad} rows with NaN or infinite values", "re-run the embedding")
    return arr


def group_by_label(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(unique_labels, order, starts)``: ``order[starts[i]:starts[i+1]]`` are the indices of label i, ascending."""
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    uniq, starts = np.unique(labels[order], return_index=True)
    starts = np.append(starts, len(labels)).astype(np.int64)
    return uniq, order, starts


def ranks_in_row(row: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """0-based ranks of the columns ``positives`` in one similarity row (removed items already ``-inf``).

    Only items at least as similar as the hardest positive can be ranked above a positive, so only those are
    sorted (for a good model, a handful); a positive's rank is then a binary search. Exact ties with the
    positive's similarity are rare and resolved by gallery index with one extra scan of the row.
    """
    t = row[positives]
    candidates = row[row >= t.min()]
    candidates.sort()
    upper = np.searchsorted(candidates, t, side="right")
    ranks = len(candidates) - upper
    tied = np.flatnonzero(upper - np.searchsorted(candidates, t, side="left") > 1)
    for j in tied:
        ranks[j] += int(np.count_nonzero(row[: positives[j]] == t[j]))
    return ranks.astype(np.int64)


def count_ranks(sim: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Ranks (B, M) of the positive columns ``positives`` (B, M), -1 = padding, in the rows of ``sim`` (B, G).

    ``sim`` rows must already have removed items set to ``-inf``. Padding entries get rank -1.
    """
    ranks = np.full(positives.shape, -1, dtype=np.int64)
    for r in range(len(sim)):
        valid = positives[r] >= 0
        if valid.any():
            ranks[r, valid] = ranks_in_row(sim[r], positives[r, valid])
    return ranks


def count_single_ranks(sim: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Ranks (B,) of one positive column per row (the gallery protocol): one vectorised pass per block."""
    rows = np.arange(len(sim))
    t = sim[rows, positive][:, None]
    ranks = np.count_nonzero(sim > t, axis=1).astype(np.int64)
    tied = np.flatnonzero(np.count_nonzero(sim == t, axis=1) > 1)
    for r in tied:
        ranks[r] += int(np.count_nonzero(sim[r, : positive[r]] == t[r, 0]))
    return ranks


def _padded(lists: Csr, rows: np.ndarray) -> np.ndarray:
    lengths = lists.lengths[rows]
    m = int(lengths.max()) if len(rows) else 0
    out = np.full((len(rows), max(m, 1)), -1, dtype=np.int64)
    for i, q in enumerate(rows):
        out[i, : lengths[i]] = lists.row(q)
    return out


SimilarityFn = Callable[[np.ndarray], np.ndarray]


def dot_similarity(query: np.ndarray, gallery: np.ndarray, device: str = "cpu") -> SimilarityFn:
    """Similarity blocks ``query[rows] @ gallery.T`` (cosine similarity for L2-normalised features).

    On a CUDA ``device`` the products run on the GPU (features are copied there once) and each float32 block
    comes back to the host for counting; on the CPU they are one BLAS call per block.
    """
    if device.startswith("cuda"):
        import torch

        q_dev = torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32)).to(device)
        g_dev = torch.from_numpy(np.ascontiguousarray(gallery, dtype=np.float32)).to(device)

        def gpu_block(rows: np.ndarray) -> np.ndarray:
            index = torch.as_tensor(np.asarray(rows), device=device)
            return (q_dev.index_select(0, index) @ g_dev.T).cpu().numpy()

        return gpu_block

    def block(rows: np.ndarray) -> np.ndarray:
        return query[rows] @ gallery.T

    return block


def positive_ranks(
    similarity: SimilarityFn,
    num_queries: int,
    positives: Csr,
    removed: Csr | None = None,
    block_size: int = 1024,
    progress: Progress | None = None,
) -> PositiveRanks:
    """Exact ranks of every query's positives, one block of queries at a time.

    ``similarity(rows)`` returns the (len(rows), G) float32 similarities of those queries; ``positives`` and
    ``removed`` list gallery columns per query (``removed`` items take no rank and must not be positives).
    """
    if block_size < 1:
        raise InputError(f"block size must be at least 1, got {block_size}")
    counts = positives.lengths
    order = np.argsort(-counts, kind="stable")
    per_query: list[np.ndarray | None] = [None] * num_queries
    done = 0
    for start in range(0, num_queries, block_size):
        rows = order[start : start + block_size]
        sim = np.array(similarity(rows), dtype=np.float32, copy=True)
        if removed is not None:
            lengths = removed.lengths[rows]
            if lengths.sum():
                r_idx = np.repeat(np.arange(len(rows)), lengths)
                c_idx = np.concatenate([removed.row(q) for q in rows])
                sim[r_idx, c_idx] = -np.inf
        ranks = count_ranks(sim, _padded(positives, rows))
        for i, q in enumerate(rows):
            per_query[q] = np.sort(ranks[i, : counts[q]])
        done += len(rows)
        if progress is not None:
            progress(done, num_queries)
    return PositiveRanks.from_lists(per_query)  # type: ignore[arg-type]
