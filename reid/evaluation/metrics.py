"""Retrieval metrics as small pure functions: CMC Rank-k, Recall@K, mAP and mINP.

Everything here works on one representation, :class:`PositiveRanks`: for each query, the sorted 0-based
positions of its correct matches ("positives") in its ranked gallery. It is what every metric needs and it is
small (one integer per positive), so a large evaluation never has to keep a query × gallery matrix around.
:mod:`reid.evaluation.ranking` computes it from features in bounded memory; :func:`ranks_from_matches` and
:func:`ranks_from_similarity` compute it from a ranked match matrix or a dense similarity matrix (small inputs,
and the reference the tests compare against).

Tie rule (documented in ``docs/protocols.md``): the gallery is ranked by descending similarity, and gallery
items with exactly equal similarity keep their gallery order (a stable sort by descending similarity, then by
ascending gallery index). The same rule holds everywhere, so results never depend on the sort algorithm.

Definitions, for a query with ``m`` positives at 0-based ranks ``r_1 < ... < r_m``:

* CMC@k / Recall@K: 1 if ``r_1 < k`` else 0 (a correct match among the first ``k``), averaged over queries.
* AP: ``mean_i(i / (r_i + 1))`` for ``i = 1..m``; mAP averages AP over queries.
* INP (Ye et al., TPAMI 2021): ``m / (r_m + 1)``, the share of the list up to the hardest positive that is
  correct; mINP averages it over queries.

A query without any positive has no defined AP or INP. The metric functions refuse one (ValueError): the
protocols remove such queries *before* computing metrics and report how many they removed (``num_excluded``).
Values are fractions in [0, 1]; the protocols convert to percent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PositiveRanks:
    """Ranks of the positives of ``Q`` queries in CSR form.

    ``ranks[offsets[q]:offsets[q + 1]]`` are the ascending 0-based ranks of query ``q``'s positives.
    """

    ranks: np.ndarray  # (P,) int64
    offsets: np.ndarray  # (Q + 1,) int64

    def __post_init__(self) -> None:
        object.__setattr__(self, "ranks", np.asarray(self.ranks, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "offsets", np.asarray(self.offsets, dtype=np.int64).reshape(-1))
        if len(self.offsets) == 0 or self.offsets[0] != 0 or self.offsets[-1] != len(self.ranks):
            raise ValueError("PositiveRanks: offsets must start at 0 and end at len(ranks)")
        if np.any(np.diff(self.offsets) < 0):
            raise ValueError("PositiveRanks: offsets must not decrease")

    @property
    def num_queries(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_positives(self) -> np.ndarray:
        """(Q,) number of positives of each query."""
        return np.diff(self.offsets)

    def of(self, q: int) -> np.ndarray:
        """The ranks of query ``q``'s positives."""
        return self.ranks[self.offsets[q] : self.offsets[q + 1]]

    def select(self, queries: np.ndarray) -> PositiveRanks:
        """The sub-list of the given query indices (a boolean mask or indices), in that order."""
        idx = np.arange(self.num_queries)[np.asarray(queries)]
        counts = self.num_positives[idx]
        offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        if len(idx) == 0:
            return PositiveRanks(np.zeros(0, np.int64), offsets)
        starts = self.offsets[idx]
        gather = np.repeat(starts - offsets[:-1], counts) + np.arange(offsets[-1])
        return PositiveRanks(self.ranks[gather], offsets)

    @classmethod
    def from_lists(cls, per_query: Iterable[Sequence[int]]) -> PositiveRanks:
        """Build from one sequence of ranks per query (sorted here)."""
        arrays = [np.sort(np.asarray(r, dtype=np.int64).reshape(-1)) for r in per_query]
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in arrays], out=offsets[1:])
        ranks = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
        return cls(ranks, offsets)


def _require_positives(pr: PositiveRanks) -> None:
    empty = np.flatnonzero(pr.num_positives == 0)
    if len(empty):
        raise ValueError(
            f"{len(empty)} queries (e.g. query {int(empty[0])}) have no positive; remove them first and report them"
        )
    if pr.num_queries == 0:
        raise ValueError("no queries to evaluate")


def first_hit(pr: PositiveRanks) -> np.ndarray:
    """(Q,) rank of each query's first positive."""
    _require_positives(pr)
    return pr.ranks[pr.offsets[:-1]]


def cmc(pr: PositiveRanks, max_rank: int = 50) -> np.ndarray:
    """(max_rank,) CMC curve: entry ``k - 1`` is the share of queries with a positive among the first ``k``."""
    hits = first_hit(pr)
    counts = np.bincount(np.minimum(hits, max_rank), minlength=max_rank + 1)[:max_rank]
    return np.cumsum(counts) / pr.num_queries


def recall_at_k(pr: PositiveRanks, ks: Iterable[int] = (1, 5)) -> dict[int, float]:
    """Recall@K for each K: the share of queries with at least one positive among their K nearest."""
    hits = first_hit(pr)
    return {int(k): float(np.mean(hits < k)) for k in ks}


def average_precision(pr: PositiveRanks) -> np.ndarray:
    """(Q,) average precision of each query."""
    _require_positives(pr)
    counts = pr.num_positives
    # 1-based position of each positive among its query's positives
    within = np.arange(len(pr.ranks)) - np.repeat(pr.offsets[:-1], counts) + 1
    precision = within / (pr.ranks + 1)
    sums = np.add.reduceat(precision, pr.offsets[:-1])
    return sums / counts


def mean_average_precision(pr: PositiveRanks) -> float:
    """mAP: mean over queries of :func:`average_precision`."""
    return float(np.mean(average_precision(pr)))


def inverse_negative_penalty(pr: PositiveRanks) -> np.ndarray:
    """(Q,) INP of each query: positives / (rank of the hardest positive + 1)."""
    _require_positives(pr)
    last = pr.ranks[pr.offsets[1:] - 1]
    return pr.num_positives / (last + 1)


def mean_inp(pr: PositiveRanks) -> float:
    """mINP: mean over queries of :func:`inverse_negative_penalty`."""
    return float(np.mean(inverse_negative_penalty(pr)))


def stable_ranking(similarity: np.ndarray) -> np.ndarray:
    """(Q, G) gallery order of each query under the tie rule: descending similarity, then ascending index."""
    return np.argsort(-np.asarray(similarity), axis=1, kind="stable")


def ranks_from_matches(matches: np.ndarray) -> PositiveRanks:
    """From a ranked match matrix (Q, G) bool (``matches[q, r]``: the item at rank ``r`` is correct)."""
    matches = np.asarray(matches, dtype=bool)
    if matches.ndim != 2:
        raise ValueError("matches must be a (queries, gallery) matrix")
    rows, cols = np.nonzero(matches)  # row-major: sorted by row, then rank
    offsets = np.zeros(matches.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=matches.shape[0]), out=offsets[1:])
    return PositiveRanks(cols, offsets)


def ranks_from_similarity(
    similarity: np.ndarray,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    ignore: np.ndarray | None = None,
) -> PositiveRanks:
    """From a dense (Q, G) similarity matrix (higher is closer) and labels.

    ``ignore`` (Q, G) bool marks gallery items removed from a query's list (itself, same camera): they take
    no rank. Dense and O(Q·G·log G): meant for small inputs and as the reference of the blocked version.
    """
    similarity = np.asarray(similarity)
    match = np.asarray(query_labels)[:, None] == np.asarray(gallery_labels)[None, :]
    order = stable_ranking(similarity)
    ranked = np.take_along_axis(match, order, axis=1)
    if ignore is not None:
        keep = ~np.take_along_axis(np.asarray(ignore, dtype=bool), order, axis=1)
        rows = [ranked[q][keep[q]] for q in range(len(ranked))]
        return PositiveRanks.from_lists(np.flatnonzero(r) for r in rows)
    return ranks_from_matches(ranked)


def distances_to_similarity(distances: np.ndarray) -> np.ndarray:
    """Negate distances so that the metric functions' "higher is closer" rule applies."""
    return -np.asarray(distances)
