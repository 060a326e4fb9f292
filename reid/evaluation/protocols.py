"""The evaluation protocols: which images query which, and what is removed from each query's list.

* :func:`paper_protocol` (Smooth-AP, the PNP paper): every image queries all other images of the test list.
* :func:`gallery_protocol` (Liu et al. 2016, fast-reid): one random image per identity forms the gallery, all
  other images query it; repeated ``repeats`` times with ``seed``, reported as mean and standard deviation.
* :func:`veri_protocol` (VeRi-776, Market-1501 style): a given query and gallery; for each query, gallery
  images of the same identity *and* camera are removed.

A query whose identity has no image left in its gallery (after removals) has no defined AP. It is excluded
from every metric and counted in ``num_excluded`` (and its index listed in ``excluded``), never dropped
silently. All metric values are percentages. ``docs/protocols.md`` explains why the two VehicleID protocols
give different numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from reid.errors import InputError
from reid.evaluation.metrics import (
    PositiveRanks,
    cmc,
    mean_average_precision,
    mean_inp,
)
from reid.evaluation.ranking import (
    Csr,
    Progress,
    SimilarityFn,
    check_features,
    dot_similarity,
    group_by_label,
    positive_ranks,
)

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
    ks = _check_ks(ks)
    feats = check_features(features)
    labels = _labels(labels, len(feats))
    positives, removed = paper_positive_lists(labels)
    sim = similarity or dot_similarity(feats, feats)
    pr = positive_ranks(sim, len(feats), positives, removed, block_size=block_size, progress=progress)
    metrics, excluded = _evaluate(pr, ks)
    return {
        **metrics,
        "num_queries": int(len(feats) - len(excluded)),
        "num_excluded": int(len(excluded)),
        "num_images": int(len(feats)),
        "num_ids": int(len(np.unique(labels))),
        "excluded": excluded.tolist(),
    }


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
    ks = _check_ks(ks)
    if repeats < 1:
        raise InputError(f"repeats must be at least 1, got {repeats}", "check --repeats")
    feats = check_features(features)
    labels = _labels(labels, len(feats))
    rng = np.random.default_rng(seed)
    full = similarity or dot_similarity(feats, feats)
    runs: list[dict[str, float]] = []
    num_queries = 0
    gallery = np.zeros(0, dtype=np.int64)
    for r in range(repeats):
        gallery = draw_gallery(labels, rng)
        is_gallery = np.zeros(len(feats), dtype=bool)
        is_gallery[gallery] = True
        queries = np.flatnonzero(~is_gallery)
        if len(queries) == 0:
            raise InputError(
                "every identity has a single image, so the gallery protocol has no queries",
                "use the paper protocol or a list with several images per identity",
            )
        column_of_label = dict(zip(labels[gallery].tolist(), range(len(gallery)), strict=True))
        pos = np.array([column_of_label[lab] for lab in labels[queries].tolist()], dtype=np.int64)
        positives = Csr(np.arange(len(queries) + 1, dtype=np.int64), pos)

        def block(
            rows: np.ndarray, queries: np.ndarray = queries, gallery: np.ndarray = gallery
        ) -> np.ndarray:
            return full(queries[rows])[:, gallery]

        def step(done: int, total: int | None = None, r: int = r) -> None:
            if progress is not None:
                progress(r * len(feats) + done, repeats * len(feats))

        pr = positive_ranks(block, len(queries), positives, None, block_size=block_size, progress=step)
        runs.append(summarize(pr, ks))
        num_queries = len(queries)
    out: dict[str, Any] = {}
    for key in runs[0]:
        values = np.array([run[key] for run in runs])
        out[key] = {"mean": float(values.mean()), "std": float(values.std())}
    out.update(
        repeats=int(repeats),
        seed=int(seed),
        num_queries=int(num_queries),
        num_gallery=int(len(gallery)),
        num_excluded=0,
        num_images=int(len(feats)),
        num_ids=int(len(np.unique(labels))),
        runs=runs,
    )
    return out


def veri_lists(
    query_labels: np.ndarray,
    query_cameras: np.ndarray,
    gallery_labels: np.ndarray,
    gallery_cameras: np.ndarray,
) -> tuple[Csr, Csr]:
    """Positives (same identity, other camera) and removed items (same identity, same camera) per query."""
    _, order, starts = group_by_label(gallery_labels)
    uniq = np.unique(gallery_labels)
    pos_rows: list[np.ndarray] = []
    rem_rows: list[np.ndarray] = []
    empty = np.zeros(0, dtype=np.int64)
    for lab, cam in zip(query_labels.tolist(), query_cameras.tolist(), strict=True):
        i = int(np.searchsorted(uniq, lab))
        if i < len(uniq) and uniq[i] == lab:
            members = order[starts[i] : starts[i + 1]]
            same_cam = gallery_cameras[members] == cam
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
) -> dict[str, Any]:
    """Given query and gallery; same identity and camera removed per query; Rank-k, mAP and mINP in percent.

    With unknown cameras (-1 on both sides, e.g. a folder dataset) nothing but exact same-camera matches is
    removed, so this is the plain query/gallery protocol.
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
    return {
        **metrics,
        "num_queries": int(len(q) - len(excluded)),
        "num_excluded": int(len(excluded)),
        "num_gallery": int(len(g)),
        "excluded": excluded.tolist(),
    }
