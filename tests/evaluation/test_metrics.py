"""Metrics on hand-worked cases and against a brute-force reference; the tie rule; bounded ranking."""

from __future__ import annotations

import numpy as np
import pytest

from reid.evaluation.metrics import (
    PositiveRanks,
    average_precision,
    cmc,
    inverse_negative_penalty,
    mean_average_precision,
    mean_inp,
    ranks_from_matches,
    ranks_from_similarity,
    recall_at_k,
)
from reid.evaluation.ranking import Csr, dot_similarity, positive_ranks


def test_hand_made_ranked_matches() -> None:
    matches = np.array([[0, 1, 0, 1], [1, 0, 0, 0], [0, 0, 1, 1]], dtype=bool)
    pr = ranks_from_matches(matches)
    assert pr.of(0).tolist() == [1, 3] and pr.of(1).tolist() == [0] and pr.of(2).tolist() == [2, 3]
    # first hits at ranks 1, 0, 2
    assert cmc(pr, 4).tolist() == pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    assert recall_at_k(pr, (1, 2, 3)) == pytest.approx({1: 1 / 3, 2: 2 / 3, 3: 1.0})
    # AP: q0 (1/2 + 2/4)/2 = 1/2, q1 1, q2 (1/3 + 2/4)/2 = 5/12
    assert average_precision(pr).tolist() == pytest.approx([0.5, 1.0, 5 / 12])
    assert mean_average_precision(pr) == pytest.approx((0.5 + 1 + 5 / 12) / 3)
    # INP: positives / (position of the last positive): 2/4, 1/1, 2/4
    assert inverse_negative_penalty(pr).tolist() == pytest.approx([0.5, 1.0, 0.5])
    assert mean_inp(pr) == pytest.approx(2 / 3)


def test_ties_keep_gallery_order() -> None:
    # g0 (0.5, wrong) and g2 (0.5, right) tie: g0 comes first because its index is smaller.
    sim = np.array([[0.5, 0.9, 0.5, 0.1]], np.float32)
    pr = ranks_from_similarity(sim, np.array([1]), np.array([2, 3, 1, 1]))
    assert pr.of(0).tolist() == [2, 3]
    assert mean_average_precision(pr) == pytest.approx((1 / 3 + 2 / 4) / 2)
    blocked = positive_ranks(
        dot_similarity(np.array([[1.0]], np.float32), sim.T.copy()), 1, Csr.from_lists([np.array([2, 3])])
    )
    assert blocked.of(0).tolist() == [2, 3]


def test_ignored_items_take_no_rank() -> None:
    sim = np.array([[0.9, 0.8, 0.7]], np.float32)
    ignore = np.array([[True, False, False]])
    pr = ranks_from_similarity(sim, np.array([5]), np.array([5, 1, 5]), ignore)
    assert pr.of(0).tolist() == [1]  # g0 removed; g2 is second of the two remaining


def test_query_without_positive_is_refused() -> None:
    pr = PositiveRanks.from_lists([[0], []])
    with pytest.raises(ValueError, match="no positive"):
        mean_average_precision(pr)
    assert mean_average_precision(pr.select(pr.num_positives > 0)) == 1.0


def _brute(sim: np.ndarray, ql: np.ndarray, gl: np.ndarray) -> list[np.ndarray]:
    out = []
    for q in range(len(sim)):
        order = sorted(range(sim.shape[1]), key=lambda g: (-float(sim[q, g]), g))
        out.append(np.array([r for r, g in enumerate(order) if gl[g] == ql[q]]))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blocked_ranks_equal_brute_force_with_and_without_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(37, 5)).astype(np.float32)
    g = rng.normal(size=(53, 5)).astype(np.float32)
    if seed == 2:  # integer features: many exact ties
        q, g = np.round(q), np.round(g)
    ql, gl = rng.integers(0, 6, len(q)), rng.integers(0, 6, len(g))
    sim = q @ g.T
    ref = _brute(sim, ql, gl)
    dense = ranks_from_similarity(sim, ql, gl)
    positives = Csr.from_lists([np.flatnonzero(gl == lab) for lab in ql])
    blocked = positive_ranks(dot_similarity(q, g), len(q), positives, block_size=8)
    for i in range(len(q)):
        assert dense.of(i).tolist() == ref[i].tolist()
        assert blocked.of(i).tolist() == ref[i].tolist()
    keep = dense.num_positives > 0
    ref_ap = np.mean([np.mean(np.arange(1, len(r) + 1) / (r + 1)) for r in ref if len(r)])
    assert mean_average_precision(blocked.select(keep)) == pytest.approx(ref_ap)
    ref_r5 = np.mean([r[0] < 5 for r in ref if len(r)])
    assert recall_at_k(blocked.select(keep), (5,))[5] == pytest.approx(ref_r5)


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("kind", ["random", "clustered", "ties"])
def test_count_ranks_both_ways_equal_brute_force(sparse: bool, kind: str) -> None:
    from reid.evaluation.ranking import count_ranks, padded_rows

    rng = np.random.default_rng(7)
    gl = rng.integers(0, 8, 60)
    ql = rng.integers(0, 8, 25)
    g = rng.normal(size=(60, 6)).astype(np.float32)
    q = rng.normal(size=(25, 6)).astype(np.float32)
    if kind == "clustered":
        centres = 4 * rng.normal(size=(8, 6)).astype(np.float32)
        g, q = g + centres[gl], q + centres[ql]
    if kind == "ties":
        g, q = np.round(g), np.round(q)
    sim = q @ g.T
    sim[3, :5] = -np.inf  # removed items
    positives = Csr.from_lists(
        [np.setdiff1d(np.flatnonzero(gl == lab), np.arange(5) if i == 3 else []) for i, lab in enumerate(ql)]
    )
    ranks = count_ranks(sim.copy(), padded_rows(positives, np.arange(25)), sparse=sparse)
    for i in range(25):
        order = sorted(range(60), key=lambda c: (-float(sim[i, c]), c))
        expected = sorted(order.index(c) for c in positives.row(i))
        assert sorted(ranks[i, : len(expected)].tolist()) == expected
        assert (ranks[i, len(expected) :] == -1).all()
