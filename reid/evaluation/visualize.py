"""Rank-list pictures for the worst queries: the query, then its top gallery images with green (correct) or
red (wrong) borders, so a user sees what the network confuses.

One PNG per query, ``<place>_q<index>_ap<AP>.png``, written atomically. Images are drawn with OpenCV; an
unreadable image becomes a grey tile with a note rather than stopping the whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from reid.errors import OutputError
from reid.evaluation.metrics import stable_ranking
from reid.evaluation.ranking import Csr
from reid.io import atomic_write
from reid.types import ImageRecord

TILE = (96, 96)  # width, height of each picture in the strip
GREEN, RED, BLUE, GREY = (40, 170, 40), (40, 40, 210), (200, 120, 30), (128, 128, 128)


def worst_queries(per_query_ap: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` queries with the lowest AP (NaN = excluded, never chosen); ties by index."""
    ap = np.asarray(per_query_ap, dtype=np.float64)
    valid = np.flatnonzero(~np.isnan(ap))
    order = valid[np.argsort(ap[valid], kind="stable")]
    return order[: max(0, int(n))]


def _tile(path: str, border: tuple[int, int, int], caption: str) -> np.ndarray:
    import cv2

    w, h = TILE
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        img = np.full((h, w, 3), GREY, np.uint8)
        cv2.putText(img, "unreadable", (4, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
    else:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
    img = cv2.copyMakeBorder(img, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=border)
    bar = np.full((16, img.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, caption, (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([img, bar])


def rank_list_image(
    query: ImageRecord, gallery: Sequence[ImageRecord], scores: Sequence[float], title: str = ""
) -> np.ndarray:
    """One BGR strip: the query (blue border), then each gallery image (green: same identity, red: not)."""
    import cv2

    tiles = [_tile(query.path, BLUE, f"query id {query.label}")]
    for rank, (rec, score) in enumerate(zip(gallery, scores, strict=True), start=1):
        colour = GREEN if rec.label == query.label else RED
        tiles.append(_tile(rec.path, colour, f"{rank}: {score:.3f}"))
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    strip = np.hstack([part for t in tiles for part in (t, gap)][:-1])
    head = np.full((20, strip.shape[1], 3), 255, np.uint8)
    cv2.putText(head, title, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([head, strip])


def write_rank_lists(
    out_dir: str | Path,
    queries: np.ndarray,
    query_records: Sequence[ImageRecord],
    gallery_records: Sequence[ImageRecord],
    similarity: Callable[[np.ndarray], np.ndarray],
    per_query_ap: np.ndarray,
    removed: Csr | None = None,
    top: int = 10,
) -> list[Path]:
    """Write one rank-list PNG per query in ``queries`` (e.g. from :func:`worst_queries`) into ``out_dir``.

    ``similarity(rows)`` gives the (len(rows), G) similarities the protocol ranked by; ``removed`` lists the
    gallery columns the protocol removed for each query (itself, same camera), which are not shown.
    """
    import cv2

    out_dir = Path(out_dir)
    written: list[Path] = []
    queries = np.asarray(queries, dtype=np.int64)
    if len(queries) == 0:
        return written
    sims = np.asarray(similarity(queries), dtype=np.float32).copy()
    for place, (q, row) in enumerate(zip(queries.tolist(), sims, strict=True), start=1):
        if removed is not None:
            row[removed.row(q)] = -np.inf
        order = stable_ranking(row[None, :])[0]
        order = order[np.isfinite(row[order])][:top]
        ap = float(per_query_ap[q])
        title = f"worst #{place}: query {q}  AP {100 * ap:.1f}%  {Path(query_records[q].path).name}"
        image = rank_list_image(
            query_records[q], [gallery_records[i] for i in order], row[order].tolist(), title
        )
        ok, data = cv2.imencode(".png", image)
        if not ok:
            raise OutputError(f"could not encode the rank list of query {q} as PNG")
        path = out_dir / f"{place:03d}_q{q}_ap{100 * ap:.1f}.png"
        with atomic_write(path, "wb") as handle:
            handle.write(data.tobytes())
        written.append(path)
    return written
