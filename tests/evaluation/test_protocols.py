"""Protocols: who queries whom, what is removed, what is excluded and counted; against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from reid.errors import InputError
from reid.evaluation.protocols import draw_gallery, gallery_protocol, paper_protocol, veri_protocol


def _brute(sim: np.ndarray, ql: np.ndarray, gl: np.ndarray, removed: np.ndarray, ks=(1, 5)) -> dict:
    """Straightforward reference: full sort per query, stable by descending similarity then gallery index."""
    hits = {k: [] for k in ks}
    aps, inps = [], []
    excluded = 0
    for q in range(len(sim)):
        keep = ~removed[q]
        order = np.argsort(-sim[q][keep], kind="stable")
        match = (gl[keep] == ql[q])[order]
        if not match.any():
            excluded += 1
            continue
        pos = np.flatnonzero(match)
        for k in ks:
            hits[k].append(pos[0] < k)
        aps.append(np.mean(np.arange(1, len(pos) + 1) / (pos + 1)))
        inps.append(len(pos) / (pos[-1] + 1))
    out = {f"rank{k}": 100 * np.mean(v) for k, v in hits.items()}
    out.update(mAP=100 * np.mean(aps), mINP=100 * np.mean(inps), num_excluded=excluded)
    return out


def _features(n: int, d: int, seed: int, quantize: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    if quantize:  # few distinct values: many exact ties
        x = np.round(x).astype(np.float32)
    return x


@pytest.mark.parametrize("quantize", [False, True])
def test_paper_protocol_matches_brute_force(quantize: bool) -> None:
    x = _features(120, 4 if quantize else 8, 1, quantize)
    y = np.random.default_rng(2).integers(0, 30, len(x))
    ours = paper_protocol(x, y, block_size=17)
    ref = _brute(x @ x.T, y, y, np.eye(len(x), dtype=bool))
    for key in ("rank1", "rank5", "mAP", "num_excluded"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-9), key
    assert ours["num_queries"] + ours["num_excluded"] == len(x)


def test_paper_protocol_hand_made() -> None:
    # 1-D features; similarity = product. Labels a a b b.
    x = np.array([[1.0], [0.5], [0.9], [-1.0]], np.float32)
    y = np.array([0, 0, 1, 1])
    # query 0: others by sim 0.9(b) 0.5(a) -1(b): first positive at rank 1 -> AP 1/2
    # query 1: 0.5(a) 0.45(b) -0.5(b): rank 0 -> AP 1
    # query 2: 0.9(a) 0.45(a) -0.9(b): positive at rank 2 -> AP 1/3
    # query 3: x1 -0.5(a) x2 -0.9(b) x0 -1(a): rank 1 -> AP 1/2
    r = paper_protocol(x, y, ks=(1, 2))
    assert r["rank1"] == pytest.approx(25.0)
    assert r["rank2"] == pytest.approx(75.0)
    assert r["mAP"] == pytest.approx(100 * (0.5 + 1 + 1 / 3 + 0.5) / 4)
    assert r["num_queries"] == 4 and r["num_excluded"] == 0


def test_paper_protocol_counts_singletons_as_excluded() -> None:
    x = _features(5, 3, 0)
    r = paper_protocol(x, np.array([0, 0, 1, 2, 2]))
    assert r["num_excluded"] == 1 and r["excluded"] == [2] and r["num_queries"] == 4


@pytest.mark.parametrize("kind", ["random", "clustered", "ties"])
def test_gallery_protocol_matches_brute_force_per_draw(kind: str) -> None:
    # random features take the gather path, clustered ones the few-candidates path; "ties" has exact ties
    y = np.random.default_rng(4).integers(0, 20, 90)
    x = _features(90, 6, 3, quantize=kind == "ties")
    if kind == "clustered":
        x = 0.1 * x + 3 * _features(20, 6, 9)[y]
    ours = gallery_protocol(x, y, repeats=3, seed=7, block_size=11)
    rng = np.random.default_rng(7)
    values = []
    for _ in range(3):
        g = draw_gallery(y, rng)
        assert len(g) == len(np.unique(y))
        q = np.setdiff1d(np.arange(len(x)), g)
        values.append(_brute(x[q] @ x[g].T, y[q], y[g], np.zeros((len(q), len(g)), bool)))
    for key in ("rank1", "rank5", "mAP"):
        ref = np.array([v[key] for v in values])
        assert ours[key]["mean"] == pytest.approx(ref.mean())
        assert ours[key]["std"] == pytest.approx(ref.std())
    assert ours["repeats"] == 3
    again = gallery_protocol(x, y, repeats=3, seed=7)
    assert again["rank1"] == ours["rank1"]


def test_veri_protocol_removes_same_camera_and_counts_excluded() -> None:
    rng = np.random.default_rng(5)
    q, g = _features(40, 6, 6), _features(100, 6, 8)
    ql, gl = rng.integers(0, 15, 40), rng.integers(0, 12, 100)
    qc, gc = rng.integers(0, 3, 40), rng.integers(0, 3, 100)
    ours = veri_protocol(q, ql, qc, g, gl, gc, block_size=9)
    removed = (ql[:, None] == gl[None]) & (qc[:, None] == gc[None])
    ref = _brute(q @ g.T, ql, gl, removed, ks=(1, 5, 10))
    for key in ("rank1", "rank5", "rank10", "mAP", "mINP", "num_excluded"):
        assert ours[key] == pytest.approx(ref[key]), key
    assert ours["num_excluded"] > 0  # labels 12..14 are not in the gallery


def test_no_query_with_a_match_is_an_input_error() -> None:
    with pytest.raises(InputError, match="none of the"):
        veri_protocol(_features(3, 4, 0), [1, 2, 3], [0, 0, 0], _features(3, 4, 1), [4, 5, 6], [0, 0, 0])
    with pytest.raises(InputError, match="NaN"):
        paper_protocol(np.full((3, 2), np.nan), [0, 0, 1])


def test_check_rows_refuses_zero_length_and_nonfinite_rows_naming_an_example() -> None:
    from reid.evaluation.ranking import check_rows

    feats = np.ones((5, 3), np.float32)
    assert check_rows(feats, "x", "hint").shape == (5, 3)
    feats[3] = 0.0
    with pytest.raises(InputError, match=r"file a\.npz has 1 zero-length rows of 5 \(e\.g\. d\.jpg\)") as info:
        check_rows(feats, "file a.npz", "re-embed", names=["a", "b", "c", "d.jpg", "e"])
    assert info.value.hint == "re-embed"
    feats[0, 1] = np.inf
    with pytest.raises(InputError, match=r"1 zero-length and 1 NaN/inf rows of 5 \(e\.g\. row 0\)"):
        check_rows(feats, "x", "hint")
