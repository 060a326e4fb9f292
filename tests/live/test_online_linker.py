"""The live linker: nearest prototype above the threshold, the hard constraints of the batch linker, ids that
never change, later emissions of one track that keep its id, and memory bounded by max_identities."""

from __future__ import annotations

import numpy as np

from reid.cameras import CamerasConfig
from reid.gallery.config import LinkConfig
from reid.live.linker import OnlineLinker


def vec(*values: float) -> np.ndarray:
    v = np.zeros(8, np.float32)
    v[: len(values)] = values
    return v


def test_a_similar_tracklet_of_another_camera_joins_the_identity() -> None:
    linker = OnlineLinker(LinkConfig(threshold=0.8))
    a = linker.assign("cam1", 1, 0.0, 5.0, vec(1, 0.1))
    b = linker.assign("cam2", 1, 8.0, 12.0, vec(1, 0.15))
    c = linker.assign("cam2", 2, 9.0, 13.0, vec(0, 1))
    assert a.new and not b.new and b.global_id == a.global_id and b.similarity > 0.8
    assert c.new and c.global_id not in (a.global_id,)


def test_one_camera_never_sees_one_vehicle_twice_at_the_same_time() -> None:
    linker = OnlineLinker(LinkConfig(threshold=0.5))
    a = linker.assign("cam1", 1, 0.0, 5.0, vec(1))
    b = linker.assign("cam1", 2, 3.0, 6.0, vec(1))  # overlaps a in the same camera
    assert b.new and b.global_id != a.global_id


def test_a_topology_window_is_a_hard_constraint() -> None:
    topo = CamerasConfig.model_validate({"cameras": {"a": {}, "b": {}, "c": {}},
                                         "links": [{"a": "a", "b": "b", "min_travel": 2, "max_travel": 10}]})
    linker = OnlineLinker(LinkConfig(threshold=0.5), topo)
    first = linker.assign("a", 1, 0.0, 1.0, vec(1))
    too_fast = linker.assign("b", 1, 1.5, 3.0, vec(1))  # 0.5 s after leaving a: faster than min_travel
    in_window = linker.assign("b", 2, 5.0, 6.0, vec(1))
    unlinked = linker.assign("c", 1, 20.0, 21.0, vec(1))  # c is not linked to a or b
    assert too_fast.global_id != first.global_id
    assert in_window.global_id == first.global_id
    assert unlinked.global_id not in (first.global_id, too_fast.global_id)


def test_a_later_emission_of_a_track_keeps_its_id_and_refreshes_the_prototype() -> None:
    linker = OnlineLinker(LinkConfig(threshold=0.9))
    a = linker.assign("cam1", 7, 0.0, 10.0, vec(1, 0))
    again = linker.assign("cam1", 7, 0.0, 20.0, vec(0, 1))  # the vehicle's look changed a lot
    assert again.global_id == a.global_id and not again.new
    joined = linker.assign("cam2", 1, 30.0, 31.0, vec(0, 1))  # matches the refreshed prototype
    assert joined.global_id == a.global_id


def test_identities_from_the_gallery_keep_their_ids_and_numbering_continues() -> None:
    linker = OnlineLinker(LinkConfig(threshold=0.8), next_id=1)
    linker.seed(41, "cam1", 0.0, 2.0, vec(1))
    known = linker.assign("cam2", 1, 10.0, 12.0, vec(1))
    fresh = linker.assign("cam2", 2, 20.0, 22.0, vec(0, 1))
    assert known.global_id == 41 and known.known_before and not known.new
    assert fresh.new and fresh.global_id == 42


def test_memory_stays_bounded_by_max_identities() -> None:
    linker = OnlineLinker(LinkConfig(threshold=0.99), max_identities=5)
    rng = np.random.default_rng(0)
    for i in range(50):
        linker.assign("cam1", i, 10.0 * i, 10.0 * i + 1, rng.normal(size=8).astype(np.float32))
        linker.forget_track("cam1", i)
    assert len(linker.identities) == 5 and len(linker.tracks) == 0


def test_a_track_still_in_view_blocks_its_camera_until_it_ends() -> None:
    linker = OnlineLinker(LinkConfig(threshold=0.5))
    a = linker.assign("cam1", 1, 0.0, 2.0, vec(1), final=False)  # a long stay's first emission
    b = linker.assign("cam1", 2, 3.0, 4.0, vec(1))  # the same camera while track 1 is still in view
    assert b.global_id != a.global_id
    linker.assign("cam1", 1, 0.0, 5.0, vec(1), final=True)
    c = linker.assign("cam1", 3, 8.0, 9.0, vec(1))
    assert c.global_id in (a.global_id, b.global_id)


def test_prototype_table_answers_as_a_full_rebuild_would_through_adds_removals_renames_and_growth() -> None:
    """The in-place prototype rows give the same candidates, in the same order, as computing every identity's
    average similarity from its vector sum and count again for each query."""
    from reid.live.linker import PrototypeTable

    rng = np.random.default_rng(3)
    table = PrototypeTable(capacity=4)  # grows several times
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for _step in range(400):
        op = rng.random()
        if op < 0.6 or not sums:
            gid = int(rng.integers(0, 60))
            sums[gid] = sums.get(gid, np.zeros(16, np.float32)) + rng.standard_normal(16).astype(np.float32)
            counts[gid] = counts.get(gid, 0) + 1
            table.put(gid, sums[gid], counts[gid])
        elif op < 0.8:
            gid = int(rng.choice(list(sums)))
            del sums[gid], counts[gid]
            table.remove(gid)
        else:
            old, new = int(rng.choice(list(sums))), int(rng.integers(0, 80))
            sums[new], counts[new] = sums.pop(old), counts.pop(old)
            table.rename(old, new)
        q = rng.standard_normal(16).astype(np.float32)
        q /= np.linalg.norm(q)
        expected = sorted(((g, float(s @ q / counts[g])) for g, s in sums.items()), key=lambda x: -x[1])
        expected = [(g, s) for g, s in expected if s >= 0.2]
        got = table.above(q, 0.2)
        assert len(table) == len(sums)
        assert [g for g, _ in got] == [g for g, _ in expected]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)


def test_a_vector_with_nan_is_an_error_naming_the_network_not_a_crash() -> None:
    import pytest

    from reid.errors import WeightsError
    from reid.gallery.selfcal import SimilarityHistogram

    hist = SimilarityHistogram()
    hist.add([0.5, float("nan"), float("inf")])  # no bin for what is not a similarity: left out
    assert hist.total == 1
    linker = OnlineLinker(LinkConfig())
    linker.assign("cam1", 1, 0.0, 1.0, vec(1, 0))
    bad = vec(1, 0)
    bad[2] = np.nan
    with pytest.raises(WeightsError, match="non-finite"):
        linker.assign("cam2", 1, 5.0, 6.0, bad)
