"""A live camera cannot rejoin broken tracks after the fact: a track that starts right where one just ended was
heading (the tracker broke a vehicle's track as it drove into view) continues it, under its id."""

from __future__ import annotations

import numpy as np

from reid.video.config import RejoinConfig
from reid.video.rejoin import BORDER_DISTANCE
from reid.video.tracklets import TrackletAccumulator


def feed(pieces: list[tuple[int, range, callable]]) -> list:
    """Run tracker rows of ``pieces`` (track id, frames, box of a frame) through an accumulator as a live
    camera does: each track that ends is first offered to a track that continues it."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (270, 480, 3), dtype=np.uint8)
    acc = TrackletAccumulator("cam", 4, lost_steps=10, exit_steps=5)
    finished = []
    last = max(f for _, frames, _ in pieces for f in frames)
    for f in range(last + 1):
        rows, boxes = [], []
        for tid, frames, box in pieces:
            if f in frames:
                b = np.array(box(f), np.float32)
                rows.append([*b, tid, 0.9, 2, -1])
                boxes.append(b)
        acc.update(f, f / 10.0, image, np.array(rows, np.float32).reshape(-1, 8), np.array(boxes).reshape(-1, 4))
        for s in acc.pop_finished():
            following = acc.continuation(s, RejoinConfig(), BORDER_DISTANCE)
            if following is not None:
                acc.continue_with(s, following)
            else:
                finished.append(s)
    return finished + acc.pop_finished(final=True)


def entering(f: int) -> tuple[float, float, float, float]:
    """A vehicle driving in from the left border, 8 px per frame, 40 px long once fully in view."""
    x2 = 12.0 + 8.0 * f
    return (max(0.0, x2 - 40.0), 100.0, x2, 124.0)


def test_a_track_broken_as_the_vehicle_drove_in_is_one_tracklet_under_the_first_id() -> None:
    out = feed([(1, range(0, 4), entering), (2, range(5, 21), entering)])
    assert len(out) == 1
    t = out[0].tracklet
    assert (t.track_id, t.first_frame, t.last_frame, t.num_boxes) == (1, 0, 20, 4 + 16)
    assert out[0].entered_at_border


def test_a_track_that_starts_elsewhere_is_another_vehicle() -> None:
    def elsewhere(f: int) -> tuple[float, float, float, float]:
        return (300.0 + 2.0 * f, 180.0, 340.0 + 2.0 * f, 204.0)

    out = feed([(1, range(0, 4), entering), (2, range(5, 21), elsewhere)])
    assert sorted(s.tracklet.track_id for s in out) == [1, 2]


def test_a_track_that_existed_before_the_ended_one_stopped_does_not_continue_it() -> None:
    out = feed([(1, range(0, 4), entering), (2, range(2, 21), entering)])  # overlapping in time: two vehicles
    assert sorted(s.tracklet.track_id for s in out) == [1, 2]
