"""Exact positive ranks from features, in bounded memory.

The metrics need, for every query, the rank of each of its positives in the ranked gallery (see
:mod:`reid.evaluation.metrics`). Sorting every gallery row would cost O(G log G) per query and a full
query × gallery matrix would not fit for large sets (VehicleID large: 19,777² float64 = 3.1 GB). Instead:

* similarities are computed for one block of queries at a time (float32, ``block_size`` rows, default 1024:
  1024 × 19,777 × 4 B = 81 MB), so memory is O(block_size × G), never O(Q × G);
* the rank of a positive with similarity ``t`` is the number of gallery items with similarity ``> t``, plus
  the items with similarity exactly ``t`` and a smaller gallery index (the tie rule of the metrics module).
  Only the items at least as similar as a query's hardest positive are sorted (few for a useful model,
  about all of them for random features); see :func:`count_ranks`;
* items removed from a query's list (itself, same identity and camera) are set to ``-inf`` so they never
  count. Features must be finite; a NaN or infinity is rejected up front (it would break every comparison).

Queries are processed in order of their number of positives, so a block pads little.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


#: Rows shorter than this cannot be normalised (the same floor as :func:`reid.evaluation.runner.normalize`).
ZERO_NORM = 1e-12


def check_rows(
    features: np.ndarray, source: str, hint: str, names: Sequence[str] | None = None
) -> np.ndarray:
    """``features`` as (N, D) float32, or one :class:`InputError` naming ``source`` and how many rows are
    zero-length or hold NaN/inf.

    Such a row cannot be normalised, so every similarity to it is 0 (or NaN): its rank among the others is
    decided by the tie rule alone, and the metrics would count it as if the network had ranked it.
    ``names`` (one per row, e.g. image paths) lets the message name an example.
    """
    arr = np.asarray(features)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(f"{source} must hold a non-empty (N, D) matrix, got shape {arr.shape}", hint)
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    nonfinite = ~np.isfinite(arr).all(axis=1)
    norms = np.linalg.norm(np.where(nonfinite[:, None], 0.0, arr).astype(np.float64), axis=1)
    zero = ~nonfinite & (norms < ZERO_NORM)
    if nonfinite.any() or zero.any():
        parts = [f"{int(n)} {what}" for n, what in ((zero.sum(), "zero-length"), (nonfinite.sum(), "NaN/inf")) if n]
        first = int(np.flatnonzero(zero | nonfinite)[0])
        example = names[first] if names is not None else f"row {first}"
        raise InputError(
            f"{source} has {' and '.join(parts)} rows of {len(arr)} (e.g. {example}): their ranks would mean "
            "nothing",
            hint,
        )
    return arr


def group_by_label(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(unique_labels, order, starts)``: ``order[starts[i]:starts[i+1]]`` are the indices of label i, ascending."""
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    uniq, starts = np.unique(labels[order], return_index=True)
    starts = np.append(starts, len(labels)).astype(np.int64)
    return uniq, order, starts


def _exact_rank(row: np.ndarray, column: int, t: float) -> int:
    """The rank of the item in ``column`` with similarity ``t`` by a full scan (used for ties only)."""
    return int(np.count_nonzero(row > t)) + int(np.count_nonzero(row[:column] == t))


def count_ranks(sim: np.ndarray, positives: np.ndarray, sparse: bool | None = None) -> np.ndarray:
    """Ranks (B, M) of the positive columns ``positives`` (B, M), -1 = padding, in the rows of ``sim`` (B, G).

    ``sim`` rows must already have removed items set to ``-inf``. Padding entries get rank -1.

    Only items at least as similar as a row's hardest positive can rank above one of its positives. When those
    candidates are a small part of the block (any useful model), they are gathered once for the whole block and
    sorted as one array of ``row * span + value`` keys, and every positive's rank is one binary search. When they
    are most of the block (near-random features), each row is sorted instead. Keys that compare equal (exact
    ties, or values too close for the key's precision) are settled by a full scan of that row, so the result is
    always exact under the tie rule. ``sparse`` forces one of the two ways (both are exact; tests use it).
    """
    b, g = sim.shape
    valid = positives >= 0
    rows = np.arange(b)
    ranks = np.full(positives.shape, -1, dtype=np.int64)
    if not valid.any():
        return ranks
    t = np.where(valid, sim[rows[:, None], np.maximum(positives, 0)], np.inf).astype(np.float32)
    t_min = t.min(axis=1)
    mask = sim >= t_min[:, None]
    counts = np.count_nonzero(mask, axis=1)
    pr, pc = np.nonzero(valid)
    tv = t[pr, pc].astype(np.float64)
    if sparse if sparse is not None else counts.sum() * 8 <= sim.size:
        flat = np.flatnonzero(mask)
        values = sim.reshape(-1)[flat].astype(np.float64)
        low = float(values.min())
        span = float(values.max()) - low + 1.0
        keys = (flat // g) * span + (values - low)
        keys.sort()
        probe = pr * span + (tv - low)
        upper = np.searchsorted(keys, probe, side="right")
        lower = np.searchsorted(keys, probe, side="left")
        ranks[pr, pc] = np.cumsum(counts)[pr] - upper
    else:
        ordered = np.sort(sim, axis=1)
        upper = np.empty(len(pr), dtype=np.int64)
        lower = np.empty(len(pr), dtype=np.int64)
        starts = np.searchsorted(pr, rows)
        ends = np.searchsorted(pr, rows, side="right")
        for r in np.flatnonzero(ends > starts):
            part = slice(starts[r], ends[r])
            upper[part] = np.searchsorted(ordered[r], tv[part], side="right")
            lower[part] = np.searchsorted(ordered[r], tv[part], side="left")
        ranks[pr, pc] = g - upper
    for i in np.flatnonzero(upper - lower > 1):
        r, j = pr[i], pc[i]
        ranks[r, j] = _exact_rank(sim[r], int(positives[r, j]), t[r, j])
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


def padded_rows(lists: Csr, rows: np.ndarray) -> np.ndarray:
    """(len(rows), M) column lists of ``rows``, padded with -1 to the longest."""
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

    ``similarity(rows)`` returns a new (len(rows), G) float32 array of those queries' similarities (it is
    modified in place); ``positives`` and
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
        sim = np.ascontiguousarray(similarity(rows), dtype=np.float32)  # a new array: changed in place
        if removed is not None:
            lengths = removed.lengths[rows]
            if lengths.sum():
                r_idx = np.repeat(np.arange(len(rows)), lengths)
                c_idx = np.concatenate([removed.row(q) for q in rows])
                sim[r_idx, c_idx] = -np.inf
        ranks = count_ranks(sim, padded_rows(positives, rows))
        ranks.sort(axis=1)  # padding (-1) first
        for i, q in enumerate(rows):
            per_query[q] = ranks[i, ranks.shape[1] - counts[q] :]
        done += len(rows)
        if progress is not None:
            progress(done, num_queries)
    return PositiveRanks.from_lists(per_query)  # type: ignore[arg-type]
