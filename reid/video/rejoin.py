"""Joining the pieces of one vehicle's track that an occlusion broke apart inside one camera.

Two tracklets ``a`` (earlier) and ``b`` (later) are one vehicle when all of these hold:
- ``b`` starts after ``a`` ends, within ``max_gap`` seconds;
- ``b`` starts near where ``a`` was heading: the distance from ``a``'s last centre moved on by its velocity
  over the gap (or from the last centre itself, for a vehicle that stopped behind the occluder) to ``b``'s first
  centre is at most ``max_distance`` times the vehicle's size (the largest box of either piece: boxes next to
  an occluder are cut);
- their vectors' cosine similarity is at least ``min_similarity``;
- they do not move in opposite directions; and when ``a`` left through the frame border or ``b`` entered through
  it (a vehicle driving out of or into the view rather than behind something), ``b`` must start right where
  ``a`` ended (within ``BORDER_DISTANCE`` vehicle sizes): a track that broke while the vehicle was still entering
  is rejoined, an exit and an unrelated entry nearby are not.
Candidate pairs are taken greedily, shortest gap first (then most similar): a short middle piece (a vehicle
half visible beside the occluder) then links both neighbours instead of being skipped. Each piece continues at
most one earlier piece and is continued by at most one later piece, so chains a → b → c form one track with
``a``'s id.
"""

from __future__ import annotations

import numpy as np

from reid.video.config import RejoinConfig
from reid.video.tracklets import TrackSummary, centre, normalise

BORDER_DISTANCE = 0.5  # in vehicle sizes: how close pieces touching the frame border must be to be joined


def continues(a: TrackSummary, b: TrackSummary, config: RejoinConfig, limit: float | None = None) -> float | None:
    """Whether ``b`` can continue ``a`` by time and place (the rules of the module docstring less the vectors):
    the distance from where ``a`` was heading to ``b``'s start, in vehicle sizes, or None. ``limit`` (vehicle
    sizes) replaces the rule's own (``max_distance``, or ``BORDER_DISTANCE`` at the frame border)."""
    ta, tb = a.tracklet, b.tracklet
    if tb.track_id == ta.track_id or tb.first_frame <= ta.last_frame or _opposite(a.velocity, b.velocity):
        return None
    gap_s = tb.first_time - ta.last_time
    if gap_s <= 0 or gap_s > config.max_gap:
        return None
    gap_frames = tb.first_frame - ta.last_frame
    start = centre(b.first_box)
    moved = centre(a.last_box) + a.velocity * gap_frames
    dist = min(np.linalg.norm(start - moved), np.linalg.norm(start - centre(a.last_box)))
    size = max(a.size, b.size, _side(a.last_box), _side(b.first_box))
    if limit is None:
        limit = BORDER_DISTANCE if (a.left_at_border or b.entered_at_border) else config.max_distance
    return float(dist / size) if dist <= limit * size else None


def rejoin_pairs(summaries: list[TrackSummary], config: RejoinConfig, fps: float) -> list[tuple[int, int]]:
    """Pairs ``(earlier_id, later_id)`` to join, chosen greedily by gap, then similarity."""
    candidates: list[tuple[float, float, int, int]] = []
    usable = [s for s in summaries if s.tracklet.feature is not None]
    for a in usable:
        ta = a.tracklet
        for b in usable:
            tb = b.tracklet
            if continues(a, b, config) is None:
                continue
            sim = float(np.dot(ta.feature, tb.feature))
            if sim >= config.min_similarity:
                candidates.append((tb.first_time - ta.last_time, -sim, ta.track_id, tb.track_id))
    candidates.sort()
    has_next: set[int] = set()
    has_prev: set[int] = set()
    pairs = []
    for _, _, a_id, b_id in candidates:
        if a_id in has_next or b_id in has_prev:
            continue
        has_next.add(a_id)
        has_prev.add(b_id)
        pairs.append((a_id, b_id))
    return pairs


def rejoin(
    summaries: list[TrackSummary], config: RejoinConfig, fps: float
) -> tuple[list[TrackSummary], dict[int, int]]:
    """Merge rejoined pieces. Returns the merged summaries and ``{track_id: surviving_id}`` for every id."""
    mapping = {s.tracklet.track_id: s.tracklet.track_id for s in summaries}
    if not config.enabled:
        return summaries, mapping
    pairs = rejoin_pairs(summaries, config, fps)
    nxt = dict(pairs)
    prev = {b: a for a, b in pairs}
    by_id = {s.tracklet.track_id: s for s in summaries}
    merged: list[TrackSummary] = []
    for s in sorted(summaries, key=lambda s: s.tracklet.first_frame):
        head = s.tracklet.track_id
        if head in prev:
            continue  # part of a chain started earlier
        chain = [by_id[head]]
        while chain[-1].tracklet.track_id in nxt:
            chain.append(by_id[nxt[chain[-1].tracklet.track_id]])
        for piece in chain:
            mapping[piece.tracklet.track_id] = head
        merged.append(_merge(chain) if len(chain) > 1 else s)
    return merged, mapping


def _merge(chain: list[TrackSummary]) -> TrackSummary:
    first, last = chain[0], chain[-1]
    t = first.tracklet
    t.last_frame, t.last_time = last.tracklet.last_frame, last.tracklet.last_time
    t.num_boxes = sum(p.tracklet.num_boxes for p in chain)
    t.crop_paths = [path for p in chain for path in p.tracklet.crop_paths]
    weights = [max(p.weight, 1e-6) for p in chain]
    t.feature = normalise(sum(w * p.tracklet.feature for w, p in zip(weights, chain, strict=True)))
    counts: dict[int, int] = {}
    for p in chain:
        counts[p.tracklet.cls] = counts.get(p.tracklet.cls, 0) + p.tracklet.num_boxes
    t.cls = max(counts, key=counts.get)
    size = max(p.size for p in chain)
    return TrackSummary(
        t,
        first.first_box,
        last.last_box,
        last.velocity,
        float(sum(weights)),
        size,
        entered_at_border=first.entered_at_border,
        left_at_border=last.left_at_border,
    )


def _opposite(va: np.ndarray, vb: np.ndarray, min_speed: float = 0.5) -> bool:
    """Both move (more than ``min_speed`` px per frame) and their directions differ by more than 90 degrees."""
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    return na > min_speed and nb > min_speed and float(np.dot(va, vb)) < 0


def _side(box: np.ndarray) -> float:
    return float(np.sqrt(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0)))
