"""The all-vs-all VehicleID protocols from half the similarity products (``paper`` and ``gallery``).

Every image of the test list is compared with every other one, so the similarity matrix is symmetric. Images
are regrouped by identity into blocks of whole identities (about ``block_size`` images, padded to a multiple
of 8 with rows that never count); a block pair ``I <= J`` is computed once, ``S = X_I @ X_J.T``, and serves
the queries of ``I`` (its rows) and of ``J`` (its columns). Memory stays O(block²): no N × N matrix.

A rank is a count: the rank of the positive ``p`` of query ``q`` with similarity ``t`` is the number of
gallery items with similarity ``> t`` plus the items with similarity exactly ``t`` and a smaller gallery index
(the tie rule of ``docs/protocols.md``). Counts add up over column blocks, so every block pair adds its part.
Because identities never straddle blocks, all positives (and every draw's correct gallery image) lie in the
diagonal blocks, which are computed first: each threshold ``t`` is read from the very product that the
counting compares against, so the result is exact and ties are settled by a scan of the tied row only.

Counting is one comparison per (query, positive) and gallery item, plus one equality test that finds the rare
exact ties: the boolean results are summed eight at a time through a ``uint64`` view (each byte lane counts one
column), several times faster than ``count_nonzero`` along an axis. Two worker threads each multiply with one
BLAS thread and count their own block pairs into their own counters (NumPy releases the GIL), so both cores
stay busy and no idle BLAS thread spins while the counting runs.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from reid.evaluation.ranking import Progress, group_by_label

_LANE_MAX = 255  # a uint64 byte lane holds at most 255 ones


def _count_rows(mask: np.ndarray) -> np.ndarray:
    """(b,) number of True per row of a C-contiguous (b, w) bool array, ``w`` a multiple of 8."""
    words = mask.view(np.uint64)
    total = np.zeros(len(mask), dtype=np.int64)
    for s in range(0, words.shape[1], _LANE_MAX):
        acc = words[:, s : s + _LANE_MAX].sum(axis=1, dtype=np.uint64)
        total += acc.view(np.uint8).reshape(-1, 8).sum(axis=1, dtype=np.int64)
    return total


def _count_cols(mask: np.ndarray) -> np.ndarray:
    """(w,) number of True per column of a C-contiguous (b, w) bool array, ``w`` a multiple of 8."""
    words = mask.view(np.uint64)
    total = np.zeros(mask.shape[1], dtype=np.int64)
    for s in range(0, len(words), _LANE_MAX):
        acc = words[s : s + _LANE_MAX].sum(axis=0, dtype=np.uint64)
        total += acc.view(np.uint8)  # byte i of word k is column 8k + i (little-endian)
    return total


@dataclass
class _Layout:
    """Images regrouped by identity into padded blocks: position -> image (``image[pos]``, -1 = padding)."""

    image: np.ndarray  # (P,) image index of each position, -1 for padding
    bounds: list[tuple[int, int]]  # [start, end) positions of each block, ends multiples of 8

    @classmethod
    def build(cls, labels: np.ndarray, block_size: int) -> _Layout:
        _, order, starts = group_by_label(labels)
        sizes = np.diff(starts)
        # Within a block, larger identities first: rows with more positives form a prefix (see _paper_pass).
        image: list[np.ndarray] = []
        bounds: list[tuple[int, int]] = []
        pos = 0
        group = 0
        n_groups = len(sizes)
        while group < n_groups:
            members, count = [], 0
            while group < n_groups and (count == 0 or count + sizes[group] <= max(block_size, 8)):
                members.append(group)
                count += int(sizes[group])
                group += 1
            members.sort(key=lambda g: -int(sizes[g]))
            width = -(-count // 8) * 8
            block = np.full(width, -1, dtype=np.int64)
            block[:count] = np.concatenate([order[starts[g] : starts[g + 1]] for g in members])
            image.append(block)
            bounds.append((pos, pos + width))
            pos += width
        return cls(np.concatenate(image), bounds)


def _thresholds(
    diag: np.ndarray, image: np.ndarray, labels: np.ndarray, real: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(b, m) similarities of each row's positives in its diagonal block (+inf padding) and their images (-1).

    Identities are contiguous in a block, so the positives of a row are the other members of its run.
    """
    b = len(labels)
    local = np.arange(b)
    change = np.flatnonzero((labels[1:] != labels[:-1]) | (real[1:] != real[:-1])) + 1
    starts = np.concatenate([[0], change])
    sizes = np.diff(np.append(starts, b))
    run = np.repeat(np.arange(len(starts)), sizes)
    first, size = starts[run], np.where(real, sizes[run], 1)
    m = max(int(size.max()) - 1, 1)
    slot = np.arange(m)[None, :]
    col = first[:, None] + slot + (slot >= (local - first)[:, None])  # skip the row itself
    valid = slot < (size - 1)[:, None]
    col = np.where(valid, col, 0)
    t = np.where(valid, diag[local[:, None], col], np.inf).astype(np.float32)
    who = np.where(valid, image[col], -1)
    return t, who


def symmetric_ranks(
    features: np.ndarray,
    labels: np.ndarray,
    do_paper: bool,
    correct: np.ndarray | None,
    is_gallery: np.ndarray | None,
    block_size: int = 1024,
    progress: Progress | None = None,
) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """Paper-protocol positive ranks per image, and gallery-protocol ranks (R, N) of each draw's correct item.

    ``correct[r, q]`` is the image of ``q``'s identity in draw ``r``'s gallery and ``is_gallery[r]`` marks that
    gallery; gallery ranks of gallery images are -1. Exact under the tie rule (see the module docstring).
    """
    n = len(features)
    lay = _Layout.build(labels, block_size)
    image = lay.image
    total = len(image)
    pos_of = np.empty(n, dtype=np.int64)
    pos_of[image[image >= 0]] = np.flatnonzero(image >= 0)
    x = np.zeros((total, features.shape[1]), dtype=np.float32)
    x[image >= 0] = features[image[image >= 0]]
    pad = image < 0
    lab = np.where(pad, -1, labels[np.maximum(image, 0)])

    blocks = len(lay.bounds)
    # Per block: paper thresholds (b, m) and their images; gallery thresholds (R, b) and correct images.
    pt: list[np.ndarray] = []
    pw: list[np.ndarray] = []
    gt: list[np.ndarray] = []
    gw: list[np.ndarray] = []
    p_counts: list[np.ndarray] = []  # (b, m) accumulated counts
    g_counts: list[np.ndarray] = []  # (R, b)
    gal_pos: list[np.ndarray] = []  # per block (R, k): local positions of each draw's gallery items
    repeats = 0 if correct is None else len(correct)

    def sim(i: int, j: int) -> np.ndarray:
        (a0, a1), (b0, b1) = lay.bounds[i], lay.bounds[j]
        s = x[a0:a1] @ x[b0:b1].T
        s[pad[a0:a1]] = -np.inf
        s[:, pad[b0:b1]] = -np.inf
        return s

    # Two workers, each multiplying with one BLAS thread and counting its own block pairs: NumPy and BLAS
    # release the GIL, and no BLAS thread spins idle while the counting runs. Workers keep their own counters.
    pt[:] = pw[:] = gt[:] = gw[:] = gal_pos[:] = [np.zeros(0)] * blocks
    p_counts[:] = g_counts[:] = [np.zeros(0)] * blocks
    workers = 2
    pairs = [(i, j) for i in range(blocks) for j in range(i + 1, blocks)]
    state = {"done": 0}
    lock = threading.Lock()

    def tick() -> None:
        with lock:
            state["done"] += 1
            if progress is not None:
                progress(state["done"], blocks * (blocks + 1) // 2)

    def diagonal(i: int) -> None:  # every threshold lives in a diagonal block: these come first
        a0, a1 = lay.bounds[i]
        s = sim(i, i)
        np.fill_diagonal(s, -np.inf)  # a query never retrieves itself
        li = lab[a0:a1]
        img = image[a0:a1]
        real = img >= 0
        if do_paper:
            t, w = _thresholds(s, img, li, real)
            pt[i] = np.ascontiguousarray(t.T)  # (m, b): one contiguous row per positive slot
            pw[i] = np.ascontiguousarray(w.T)
            p_counts[i] = np.zeros(t.T.shape, dtype=np.int64)
        if repeats:
            assert correct is not None and is_gallery is not None
            safe = np.maximum(img, 0)
            tg = np.full((repeats, len(li)), np.inf, dtype=np.float32)
            wg = np.full((repeats, len(li)), -1, dtype=np.int64)
            gp = []
            for r in range(repeats):
                query = real & ~is_gallery[r, safe]
                c_local = pos_of[correct[r, safe[query]]] - a0
                tg[r, query] = s[np.flatnonzero(query), c_local]
                wg[r, query] = correct[r, safe[query]]
                gp.append(np.flatnonzero(real & is_gallery[r, safe]))
            gt[i] = tg
            gw[i] = wg
            g_counts[i] = np.zeros((repeats, len(li)), dtype=np.int64)
            gal_pos[i] = np.stack(gp)  # (R, identities of the block): one item per identity
        _count_pair(s, i, i, lay, image, pt, pw, p_counts, gt, gw, g_counts, gal_pos, do_paper, repeats, True)
        tick()

    def off_diagonal(worker: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        pc = [np.zeros_like(c) for c in p_counts]
        gc = [np.zeros_like(c) for c in g_counts]
        for i, j in pairs[worker::workers]:
            _count_pair(
                sim(i, j), i, j, lay, image, pt, pw, pc, gt, gw, gc, gal_pos, do_paper, repeats, False
            )
            tick()
        return pc, gc

    with _one_blas_thread(), ThreadPoolExecutor(workers) as pool:
        list(pool.map(diagonal, range(blocks)))
        for pc, gc in pool.map(off_diagonal, range(workers)):
            for blk in range(blocks):
                p_counts[blk] += pc[blk]
                g_counts[blk] += gc[blk]

    paper: list[np.ndarray] | None = None
    if do_paper:
        paper = [np.zeros(0, np.int64)] * n
        for counts, thr, (a0, _) in zip(p_counts, pt, lay.bounds, strict=True):
            for k in range(counts.shape[1]):
                if image[a0 + k] >= 0:
                    paper[image[a0 + k]] = np.sort(counts[:, k][np.isfinite(thr[:, k])])
    gallery: np.ndarray | None = None
    if repeats:
        counts = np.concatenate(g_counts, axis=1)
        gallery = np.full((repeats, n), -1, dtype=np.int64)
        keep = ~pad
        thr = np.concatenate(gt, axis=1)
        for r in range(repeats):
            ok = keep & np.isfinite(thr[r])
            gallery[r, image[ok]] = counts[r, ok]
    return paper, gallery


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread per caller while the workers run (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without it BLAS keeps its threads: still correct, a little slower
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _tie_count(values: np.ndarray, t: float, images: np.ndarray, before: int) -> int:
    """Items tied with ``t`` whose image index is smaller than ``before`` (they rank first)."""
    return int(np.count_nonzero((values == t) & (images < before) & (images >= 0)))


def _count_pair(
    s: np.ndarray,
    i: int,
    j: int,
    lay: _Layout,
    image: np.ndarray,
    pt: list[np.ndarray],
    pw: list[np.ndarray],
    p_counts: list[np.ndarray],
    gt: list[np.ndarray],
    gw: list[np.ndarray],
    g_counts: list[np.ndarray],
    gal_pos: list[np.ndarray],
    do_paper: bool,
    repeats: int,
    diagonal: bool,
) -> None:
    """Add block pair (i, j)'s counts: rows of ``s`` are queries of block i, columns queries of block j."""
    (a0, a1), (b0, b1) = lay.bounds[i], lay.bounds[j]
    img_i, img_j = image[a0:a1], image[b0:b1]
    base = 1 if diagonal else 0  # in a diagonal block the item with similarity t itself is tied
    sides = [(False, i, j, img_j)] if diagonal else [(False, i, j, img_j), (True, j, i, img_i)]
    args = (s, pt, pw, p_counts, gt, gw, g_counts, gal_pos, do_paper, repeats, base)
    for side in sides:
        _count_side(*side, *args)


def _count_side(
    transposed: bool,
    blk: int,
    other: int,
    col_images: np.ndarray,
    s: np.ndarray,
    pt: list[np.ndarray],
    pw: list[np.ndarray],
    p_counts: list[np.ndarray],
    gt: list[np.ndarray],
    gw: list[np.ndarray],
    g_counts: list[np.ndarray],
    gal_pos: list[np.ndarray],
    do_paper: bool,
    repeats: int,
    base: int,
) -> None:
    """Counts for the queries of block ``blk``: the rows of ``s``, or its columns when ``transposed``."""
    buf = np.empty(s.shape, dtype=bool)
    tied_rows: set[int] = set()
    if do_paper:
        t, w, acc = pt[blk], pw[blk], p_counts[blk]
        widths = np.isfinite(t).sum(axis=1)
        for k in range(len(t)):
            nk = int(widths[k])
            if nk == 0:
                break
            if transposed:
                nk = -(-nk // 8) * 8  # block widths are multiples of 8
                view, tk = s[:, :nk], t[k, :nk]
                b = buf[:, :nk] if nk == s.shape[1] else np.empty((s.shape[0], nk), bool)
                above = _count_cols(np.greater(view, tk[None, :], out=b))
                eq = _count_cols(np.equal(view, tk[None, :], out=b))
            else:
                view, tk = s[:nk], t[k, :nk]
                b = buf[:nk]
                above = _count_rows(np.greater(view, tk[:, None], out=b))
                eq = _count_rows(np.equal(view, tk[:, None], out=b))
            acc[k, :nk] += above
            for q in np.flatnonzero(eq > base).tolist():
                line = s[:, q] if transposed else s[q]
                acc[k, q] += _tie_count(line, float(tk[q]), col_images, int(w[k, q]))
                tied_rows.add(q)
    if not repeats:
        return
    t, w, acc = gt[blk], gw[blk], g_counts[blk]  # (R, b)
    cols = gal_pos[other]  # (R, g): every draw has one item per identity of the other block
    if cols.shape[1] == 0:
        return
    if transposed:  # gallery items of block i are rows of s; queries are its columns
        sub = s[cols.reshape(-1)].reshape(repeats, cols.shape[1], -1)  # (R, g, b)
        above = np.count_nonzero(sub > t[:, None, :], axis=1)
        if not do_paper:
            eq = np.count_nonzero(sub == t[:, None, :], axis=1)
            tied_rows.update(np.flatnonzero((eq > base).any(axis=0)).tolist())
    else:
        sub = np.take(s, cols.reshape(-1), axis=1).reshape(len(s), repeats, -1)  # (b, R, g)
        above = np.count_nonzero(sub > t.T[:, :, None], axis=2).T
        if not do_paper:
            eq = np.count_nonzero(sub == t.T[:, :, None], axis=2).T
            tied_rows.update(np.flatnonzero((eq > base).any(axis=0)).tolist())
    acc += above
    # A tie with a draw's correct item is a tie with one of the query's positives, so the rows flagged by
    # the paper counting (or by the equality count above) are all that need a scan.
    for q in tied_rows:
        for r in range(repeats):
            if np.isfinite(t[r, q]):
                line = s[cols[r], q] if transposed else s[q, cols[r]]
                acc[r, q] += _tie_count(line, float(t[r, q]), col_images[cols[r]], int(w[r, q]))
