"""k-reciprocal re-ranking: the sparse, blocked version equals a dense transcription of the original code."""

from __future__ import annotations

import numpy as np
import pytest

from reid.errors import InputError
from reid.evaluation.protocols import paper_protocol
from reid.evaluation.rerank import RerankParams, reranked_similarity


def _dense_reference(feats: np.ndarray, k1: int, k2: int, lam: float) -> np.ndarray:
    """Zhong et al.'s re_ranking() on the full matrix, with d = 1 - cos as the original distance."""
    original = (1.0 - feats @ feats.T).astype(np.float64)
    n = len(feats)
    initial_rank = np.argsort(original, axis=1, kind="stable")
    v = np.zeros((n, n))
    for i in range(n):
        forward = initial_rank[i, : k1 + 1]
        backward = initial_rank[forward, : k1 + 1]
        recip = forward[np.where(backward == i)[0]]
        expansion = recip
        for cand in recip:
            half = int(np.around(k1 / 2))
            c_forward = initial_rank[cand, : half + 1]
            c_backward = initial_rank[c_forward, : half + 1]
            c_recip = c_forward[np.where(c_backward == cand)[0]]
            if len(np.intersect1d(c_recip, recip)) > 2 / 3 * len(c_recip):
                expansion = np.append(expansion, c_recip)
        expansion = np.unique(expansion)
        weight = np.exp(-original[i, expansion])
        v[i, expansion] = weight / weight.sum()
    if k2 != 1:
        v = np.stack([v[initial_rank[i, :k2]].mean(axis=0) for i in range(n)])
    jaccard = np.zeros((n, n))
    for i in range(n):
        m = np.minimum(v[i][None, :], v).sum(axis=1)
        jaccard[i] = 1 - m / (2 - m)
    return jaccard * (1 - lam) + original * lam


def _clustered(n: int, ids: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, ids, n)
    x = rng.normal(size=(ids, 16))[labels] + 0.9 * rng.normal(size=(n, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


@pytest.mark.parametrize(("k1", "k2", "lam"), [(20, 6, 0.3), (6, 3, 0.5), (4, 1, 0.0)])
def test_sparse_rerank_equals_dense_reference(k1: int, k2: int, lam: float) -> None:
    x, _ = _clustered(70, 12, 0)
    ref = _dense_reference(x, k1, k2, lam)
    rows = np.arange(len(x))
    block = reranked_similarity(x, rows, rows, RerankParams(k1, k2, lam), chunk=16)
    ours = np.vstack([block(rows[:33]), block(rows[33:])])
    np.testing.assert_allclose(-ours, ref, atol=2e-5)


def test_query_gallery_split_selects_columns() -> None:
    x, _ = _clustered(40, 8, 1)
    ref = _dense_reference(x, 10, 4, 0.3)
    q, g = np.arange(15), np.arange(15, 40)
    block = reranked_similarity(x, q, g, RerankParams(10, 4, 0.3))
    np.testing.assert_allclose(-block(np.arange(15)), ref[np.ix_(q, g)], atol=2e-5)


def test_rerank_plugs_into_protocols_and_checks_params() -> None:
    x, y = _clustered(60, 10, 2)
    rows = np.arange(len(x))
    result = paper_protocol(x, y, similarity=reranked_similarity(x, rows, rows, RerankParams(8, 3, 0.3)))
    assert 0.0 <= result["mAP"] <= 100.0 and result["num_queries"] + result["num_excluded"] == len(x)
    with pytest.raises(InputError, match="lambda"):
        reranked_similarity(x, rows, rows, RerankParams(8, 3, 1.5))
    with pytest.raises(InputError, match="k2"):
        reranked_similarity(x, rows, rows, RerankParams(4, 9, 0.3))
