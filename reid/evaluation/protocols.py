"""The evaluation protocols: which images query which, and what is removed from each query's list.

* :func:`paper_protocol` (Smooth-AP, the PNP paper): every image queries all other images of the test list.
* :func:`gallery_protocol` (Liu et al. 2016, fast-reid): one random image per identity forms the gallery, all
  other images query it; repeated ``repeats`` times with ``seed``, reported as mean and standard deviation.
* :func:`veri_protocol` (VeRi-776, Market-1501 style): a given query and gallery; for each query, gallery
  images of the same identity *and* camera are removed.

A query whose identity has no image left in its gallery (after removals) has no defined AP. It is excluded
from every metric and counted in ``num_excluded`` (and its index listed in ``excluded``), never dropped
silently. All metric values are percentages and every public protocol function returns plain values that
can be logged or written as JSON; :func:`evaluate_test_list` (and ``veri_protocol(details=True)``) also
return ``_``-prefixed per-query arrays for the rank-list pictures. ``docs/protocols.md`` explains why the two VehicleID protocols
give different numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from reid.errors import InputError
from reid.evaluation.metrics import (
    PositiveRanks,
    average_precision,
    cmc,
    mean_average_precision,
    mean_inp,
)
from reid.evaluation.ranking import (
    Csr,
    Progress,
    SimilarityFn,
    check_features,
    count_ranks,
    count_single_ranks,
    dot_similarity,
    group_by_label,
    padded_rows,
    positive_ranks,
)
from reid.evaluation.symmetric import symmetric_ranks

PROTOCOLS: tuple[str, ...] = ("paper", "gallery", "veri")


def _labels(labels: np.ndarray, n: int, what: str = "labels") -> np.ndarray:
    arr = np.asarray(labels).reshape(-1)
    if len(arr) != n:
        raise InputError(f"{what} has {len(arr)} entries for {n} feature rows")
    return arr.astype(np.int64)


def summarize(pr: PositiveRanks, ks: Sequence[int], minp: bool = False) -> dict[str, float]:
    """Rank-k (= Recall@K), mAP and optionally mINP in percent, for queries that all have a positive."""
    curve = cmc(pr, max(ks))
    out = {f"rank{k}": 100.0 * float(curve[k - 1]) for k in ks}
    out["mAP"] = 100.0 * mean_average_precision(pr)
    if minp:
        out["mINP"] = 100.0 * mean_inp(pr)
    return out


def _evaluate(
    pr: PositiveRanks, ks: Sequence[int], minp: bool = False
) -> tuple[dict[str, float], np.ndarray]:
    has = pr.num_positives > 0
    excluded = np.flatnonzero(~has)
    if not has.any():
        raise InputError(
            f"none of the {pr.num_queries} queries has an image of its identity in the gallery",
            "check that query and gallery come from the same dataset and split",
        )
    return summarize(pr.select(has), ks, minp), excluded


def _plain(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` without the ``_`` keys (per-query arrays), so it can be logged or written as JSON as is."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def per_query_ap(pr: PositiveRanks) -> np.ndarray:
    """(Q,) AP of each query, NaN for a query without positive (for picking the worst queries to show)."""
    out = np.full(pr.num_queries, np.nan)
    has = pr.num_positives > 0
    if has.any():
        out[has] = average_precision(pr.select(has))
    return out


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise InputError(f"ranks to report must be positive integers, got {ks}")
    return ks


def paper_positive_lists(labels: np.ndarray) -> tuple[Csr, Csr]:
    """Positives (same label, not itself) and removed items (itself) for the all-vs-all protocol."""
    n = len(labels)
    _, order, starts = group_by_label(labels)
    group_of = np.empty(n, dtype=np.int64)
    group_of[order] = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    rows = []
    for i in range(n):
        g = group_of[i]
        members = order[starts[g] : starts[g + 1]]
        rows.append(members[members != i])
    self_removed = Csr(np.arange(n + 1, dtype=np.int64), np.arange(n, dtype=np.int64))
    return Csr.from_lists(rows), self_removed


def paper_protocol(
    features: np.ndarray,
    labels: np.ndarray,
    ks: Sequence[int] = (1, 5),
    similarity: SimilarityFn | None = None,
    block_size: int = 1024,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every image queries all other images of the list (itself excluded); Recall@K and mAP in percent.

    Returns ``{"rank1": %, "rank5": %, "mAP": %, "num_queries": n, "num_excluded": e, "num_images": N,
    "num_ids": M, "excluded": [indices]}``: ``rank{k}`` is Recall@K; images whose identity has no other image
    cannot be queries and are excluded. ``similarity`` replaces the cosine similarity (re-ranking uses it).
    """
    out = evaluate_test_list(
        features, labels, ("paper",), ks=ks, similarity=similarity, block_size=block_size, progress=progress
    )["paper"]
    return _plain(out)


def draw_gallery(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices (ascending) of one random image per identity: the gallery of one gallery-protocol draw."""
    _, order, starts = group_by_label(labels)
    sizes = np.diff(starts)
    picks = starts[:-1] + (rng.random(len(sizes)) * sizes).astype(np.int64)
    return np.sort(order[picks])


def gallery_protocol(
    features: np.ndarray,
    labels: np.ndarray,
    repeats: int = 10,
    seed: int = 0,
    ks: Sequence[int] = (1, 5),
    similarity: SimilarityFn | None = None,
    block_size: int = 1024,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """One random image per identity is the gallery, the others query it; ``repeats`` draws from ``seed``.

    Returns ``{"rank1": {"mean": %, "std": %}, "rank5": {...}, "mAP": {...}, "repeats": R, "seed": s,
    "num_queries": n, "num_gallery": g, "num_excluded": 0, "runs": [per-draw metrics]}``. ``std`` is the
    population standard deviation over draws. Identities with a single image only ever appear in the
    gallery (as distractors); every query has exactly one correct gallery image.
    """
    out = evaluate_test_list(
        features,
        labels,
        ("gallery",),
        ks=ks,
        repeats=repeats,
        seed=seed,
        similarity=similarity,
        block_size=block_size,
        progress=progress,
    )["gallery"]
    return _plain(out)


def evaluate_test_list(
    features: np.ndarray,
    labels: np.ndarray,
    protocols: Sequence[str] = ("paper", "gallery"),
    ks: Sequence[int] = (1, 5),
    repeats: int = 10,
    seed: int = 0,
    similarity: SimilarityFn | None = None,
    block_size: int = 1024,
    progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """The paper and gallery protocols on one test list (VehicleID) with one similarity pass.

    Both protocols only ever compare images of the same list, so each block of all-vs-all similarities is
    computed once and serves the paper protocol and every gallery draw: the cost of ``both`` is about that
    of one. With the default cosine similarity the matrix is symmetric and each block pair is multiplied only
    once (:mod:`reid.evaluation.symmetric`); a given ``similarity`` (GPU, re-ranking) is computed in row
    blocks of ``block_size`` queries. Returns ``{"paper": {...}, "gallery": {...}}`` with the keys described in :func:`paper_protocol`
    and :func:`gallery_protocol`.
    """
    unknown = [p for p in protocols if p not in ("paper", "gallery")]
    if unknown or not protocols:
        raise InputError(f"unknown protocol {unknown[0] if unknown else ''!r}", "valid: paper, gallery, both")
    ks = _check_ks(ks)
    if repeats < 1:
        raise InputError(f"repeats must be at least 1, got {repeats}", "check --repeats")
    if block_size < 1:
        raise InputError(f"block size must be at least 1, got {block_size}")
    feats = check_features(features)
    n = len(feats)
    labels = _labels(labels, n)
    sim = similarity or dot_similarity(feats, feats)
    do_paper, do_gallery = "paper" in protocols, "gallery" in protocols

    if do_paper:
        positives, _ = paper_positive_lists(labels)
        num_positives = positives.lengths
        paper_ranks: list[np.ndarray] = [np.zeros(0, np.int64)] * n
    if do_gallery:
        rng = np.random.default_rng(seed)
        galleries = [draw_gallery(labels, rng) for _ in range(repeats)]
        is_gallery = np.zeros((repeats, n), dtype=bool)
        target = np.empty((repeats, n), dtype=np.int64)  # column of each image's identity in draw r's gallery
        uniq, inverse = np.unique(labels, return_inverse=True)
        for r, g in enumerate(galleries):
            is_gallery[r, g] = True
            column_of_label = np.empty(len(uniq), dtype=np.int64)
            column_of_label[inverse[g]] = np.arange(len(g))
            target[r] = column_of_label[inverse]
        if (~is_gallery).sum(axis=1).min() == 0:
            raise InputError(
                "every identity has a single image, so the gallery protocol has no queries",
                "use the paper protocol or a list with several images per identity",
            )
        gallery_ranks = np.full((repeats, n), -1, dtype=np.int64)

    if similarity is None:  # all-vs-all cosine: each symmetric block pair is computed once
        correct = None
        if do_gallery:
            correct = np.stack([g[target[r]] for r, g in enumerate(galleries)])
        sym_paper, sym_gallery = symmetric_ranks(
            feats, labels, do_paper, correct, is_gallery if do_gallery else None, block_size, progress
        )
        if do_paper:
            paper_ranks = sym_paper  # type: ignore[assignment]
        if do_gallery:
            gallery_ranks = sym_gallery  # type: ignore[assignment]
    else:
        for start in range(0, n, block_size):
            rows = np.arange(start, min(n, start + block_size))
            block = np.ascontiguousarray(sim(rows), dtype=np.float32)  # a new array: changed in place below
            if do_gallery:
                _gallery_block(block, rows, galleries, is_gallery, target, gallery_ranks)
            if do_paper:
                block[np.arange(len(rows)), rows] = -np.inf  # a query never retrieves itself
                ranks = count_ranks(block, padded_rows(positives, rows))
                ranks.sort(axis=1)  # padding (-1) first, then the ranks in ascending order
                for i, q in enumerate(rows.tolist()):
                    paper_ranks[q] = ranks[i, ranks.shape[1] - num_positives[q] :]
            if progress is not None:
                progress(int(rows[-1]) + 1, n)

    out: dict[str, dict[str, Any]] = {}
    num_ids = int(len(np.unique(labels)))
    if do_paper:
        pr = PositiveRanks.from_lists(paper_ranks)
        metrics, excluded = _evaluate(pr, ks)
        out["paper"] = {
            **metrics,
            "num_queries": int(n - len(excluded)),
            "num_excluded": int(len(excluded)),
            "num_images": n,
            "num_ids": num_ids,
            "excluded": excluded.tolist(),
            "_per_query_ap": per_query_ap(pr),
        }
    if do_gallery:
        runs = []
        for r in range(repeats):
            queries = ~is_gallery[r]
            ranks = gallery_ranks[r, queries]
            runs.append(summarize(PositiveRanks(ranks, np.arange(len(ranks) + 1)), ks))
        summary: dict[str, Any] = {}
        for key in runs[0]:
            values = np.array([run[key] for run in runs])
            summary[key] = {"mean": float(values.mean()), "std": float(values.std())}
        summary.update(
            repeats=int(repeats),
            seed=int(seed),
            num_queries=int(n - len(galleries[0])),
            num_gallery=int(len(galleries[0])),
            num_excluded=0,
            num_images=n,
            num_ids=num_ids,
            runs=runs,
            _per_query_ap=np.where(is_gallery[0], np.nan, 1.0 / (np.maximum(gallery_ranks[0], 0) + 1.0)),
            _gallery=galleries[0],
        )
        out["gallery"] = summary
    return out


def _gallery_block(
    block: np.ndarray,
    rows: np.ndarray,
    galleries: list[np.ndarray],
    is_gallery: np.ndarray,
    target: np.ndarray,
    out: np.ndarray,
) -> None:
    """Ranks of the correct gallery image for the query rows of one block, for every gallery draw.

    Only gallery items at least as similar as the correct one can rank above it. When those "candidates"
    are a small part of the block (any useful model), they are found once and every draw counts only them;
    otherwise (near-random features) each draw gathers its gallery columns and counts with one comparison.
    Both give the exact rank under the tie rule (equal similarity: smaller gallery index first).
    """
    b = len(rows)
    local_rows = np.arange(b)
    # The correct item of image q in draw r is column target[r, q] of gallery r, i.e. image galleries[r][...].
    correct = np.stack([g[target[r, rows]] for r, g in enumerate(galleries)])  # (R, B) image indices
    t = block[local_rows[None, :], correct]  # (R, B) similarity of the correct item
    t_min = t.min(axis=0)
    mask = block >= t_min[:, None]
    if np.count_nonzero(mask) * 8 > mask.size:
        for r, g in enumerate(galleries):
            local = np.flatnonzero(~is_gallery[r, rows])
            if len(local):
                sub = np.take(block, g, axis=1)[local]
                out[r, rows[local]] = count_single_ranks(sub, target[r, rows[local]])
        return
    flat = np.flatnonzero(mask)
    cand_row, cand_col = np.divmod(flat, block.shape[1])
    cand_val = block[cand_row, cand_col]
    for r in range(len(galleries)):
        query = ~is_gallery[r, rows]
        in_gallery = is_gallery[r, cand_col]
        tr = t[r, cand_row]
        above = in_gallery & ((cand_val > tr) | ((cand_val == tr) & (cand_col < correct[r, cand_row])))
        counts = np.bincount(cand_row[above], minlength=b)
        out[r, rows[query]] = counts[query]


def veri_lists(
    query_labels: np.ndarray,
    query_cameras: np.ndarray,
    gallery_labels: np.ndarray,
    gallery_cameras: np.ndarray,
) -> tuple[Csr, Csr]:
    """Positives (same identity, other camera) and removed items (same identity, same camera) per query.

    A camera of -1 means unknown: nothing is removed for it (a folder or CSV dataset without cameras).
    """
    _, order, starts = group_by_label(gallery_labels)
    uniq = np.unique(gallery_labels)
    pos_rows: list[np.ndarray] = []
    rem_rows: list[np.ndarray] = []
    empty = np.zeros(0, dtype=np.int64)
    for lab, cam in zip(query_labels.tolist(), query_cameras.tolist(), strict=True):
        i = int(np.searchsorted(uniq, lab))
        if i < len(uniq) and uniq[i] == lab:
            members = order[starts[i] : starts[i + 1]]
            same_cam = (gallery_cameras[members] == cam) & (cam >= 0)
            pos_rows.append(members[~same_cam])
            rem_rows.append(members[same_cam])
        else:
            pos_rows.append(empty)
            rem_rows.append(empty)
    return Csr.from_lists(pos_rows), Csr.from_lists(rem_rows)


def veri_protocol(
    query_features: np.ndarray,
    query_labels: np.ndarray,
    query_cameras: np.ndarray,
    gallery_features: np.ndarray,
    gallery_labels: np.ndarray,
    gallery_cameras: np.ndarray,
    ks: Sequence[int] = (1, 5, 10),
    similarity: SimilarityFn | None = None,
    block_size: int = 1024,
    progress: Progress | None = None,
    details: bool = False,
) -> dict[str, Any]:
    """Given query and gallery; same identity and camera removed per query; Rank-k, mAP and mINP in percent.

    With unknown cameras (-1, e.g. a folder dataset) nothing is removed: the plain query/gallery protocol.
    With ``details``, keys starting with ``_`` add the per-query AP and the removed items (for the rank-list
    pictures); without, the result is plain JSON-able values.
    """
    ks = _check_ks(ks)
    q = check_features(query_features, "query features")
    g = check_features(gallery_features, "gallery features")
    if q.shape[1] != g.shape[1]:
        raise InputError(f"query features have {q.shape[1]} dimensions, gallery features {g.shape[1]}")
    ql, qc = _labels(query_labels, len(q)), _labels(query_cameras, len(q), "query cameras")
    gl, gc = _labels(gallery_labels, len(g)), _labels(gallery_cameras, len(g), "gallery cameras")
    positives, removed = veri_lists(ql, qc, gl, gc)
    sim = similarity or dot_similarity(q, g)
    pr = positive_ranks(sim, len(q), positives, removed, block_size=block_size, progress=progress)
    metrics, excluded = _evaluate(pr, ks, minp=True)
    result = {
        **metrics,
        "num_queries": int(len(q) - len(excluded)),
        "num_excluded": int(len(excluded)),
        "num_gallery": int(len(g)),
        "excluded": excluded.tolist(),
        "_per_query_ap": per_query_ap(pr),
        "_removed": removed,
    }
    return result if details else _plain(result)
