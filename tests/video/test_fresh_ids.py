"""Track ids are never reused within one camera run, even when the tracker brings back a track that was
already declared ended (a tracklet handed on must never share its id with a later one)."""

from __future__ import annotations

import numpy as np

from reid.video.tracklets import FreshIds


def rows(*ids: int) -> np.ndarray:
    r = np.zeros((len(ids), 8), np.float32)
    r[:, 4] = ids
    return r


def test_new_tracker_ids_keep_their_value() -> None:
    ids = FreshIds()
    assert ids.remap(rows(1, 2))[:, 4].tolist() == [1, 2]
    assert ids.remap(rows(2, 3))[:, 4].tolist() == [2, 3]


def test_a_track_that_comes_back_after_it_ended_gets_a_new_id() -> None:
    ids = FreshIds()
    ids.remap(rows(1, 2))
    ids.end(1)
    assert ids.remap(rows(1, 2))[:, 4].tolist() == [3, 2]  # tracker id 1 came back: it is not tracklet 1
    assert ids.remap(rows(1, 3))[:, 4].tolist() == [3, 4]  # the tracker's own new id 3 is taken: it gets 4


def test_with_an_offset_ids_continue_after_an_earlier_session() -> None:
    ids = FreshIds(offset=40)
    assert ids.remap(rows(1, 7, 3))[:, 4].tolist() == [41, 42, 43]
