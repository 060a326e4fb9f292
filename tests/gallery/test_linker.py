"""The linker's hard constraints and its clustering on toy vectors whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from reid.gallery.config import LinkConfig
from reid.gallery.linker import Sighting, link


class Links:
    """A two-link topology: a-b takes 10..20 s, b-c takes 5..8 s; a and c are not connected."""

    links = [("a", "b"), ("b", "c")]
    windows = {frozenset("ab"): (10.0, 20.0), frozenset("bc"): (5.0, 8.0)}

    def connected(self, x: str, y: str) -> bool:
        return frozenset((x, y)) in self.windows

    def travel_window(self, x: str, y: str):
        return self.windows.get(frozenset((x, y)))


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, np.float32)
    return v / np.linalg.norm(v)


def test_same_camera_overlap_never_merged_even_for_identical_vectors() -> None:
    f = unit(1, 0, 0)
    s = [Sighting("a", 0, 10, f, key=1), Sighting("a", 5, 15, f, key=2), Sighting("a", 20, 30, f, key=3)]
    for mode in ("batch", "online"):
        ids = link(s, LinkConfig(threshold=0.5, mode=mode)).identities
        assert ids[0] != ids[1]
        # a later, non-overlapping tracklet of the same camera may be the same vehicle coming back
        assert ids[2] in (ids[0], ids[1])


def test_overlap_tolerance_allows_handoff_fragments() -> None:
    f = unit(1, 0)
    s = [Sighting("a", 0, 10, f), Sighting("a", 9.9, 15, f)]
    assert len(set(link(s, LinkConfig(threshold=0.5)).identities)) == 2
    assert len(set(link(s, LinkConfig(threshold=0.5, overlap_tolerance=0.2)).identities)) == 1


@pytest.mark.parametrize("mode", ["batch", "online"])
def test_min_revisit_keeps_one_camera_passes_apart(mode: str) -> None:
    f = unit(1, 0)
    s = [Sighting("a", 0, 10, f), Sighting("a", 30, 40, f), Sighting("a", 200, 210, f)]
    ids = link(s, LinkConfig(threshold=0.5, mode=mode, min_revisit=60.0)).identities
    assert ids[0] != ids[1]  # back after 20 s: not allowed
    assert ids[2] in (ids[0], ids[1])  # back after 190 s: may be the same vehicle


@pytest.mark.parametrize("mode", ["batch", "online"])
def test_topology_windows_respected(mode: str) -> None:
    f = unit(0, 1, 0)
    cfg = LinkConfig(threshold=0.5, mode=mode, travel={"slack": 0.0, "skip": 0})
    inside = [Sighting("a", 0, 5, f), Sighting("b", 20, 25, f)]  # gap 15 s in 10..20
    too_fast = [Sighting("a", 0, 5, f), Sighting("b", 8, 12, f)]  # gap 3 s
    too_slow = [Sighting("a", 0, 5, f), Sighting("b", 40, 45, f)]  # gap 35 s
    not_linked = [Sighting("a", 0, 5, f), Sighting("c", 20, 25, f)]
    assert len(set(link(inside, cfg, Links()).identities)) == 1
    assert len(set(link(too_fast, cfg, Links()).identities)) == 2
    assert len(set(link(too_slow, cfg, Links()).identities)) == 2
    assert len(set(link(not_linked, cfg, Links()).identities)) == 2
    # without topology (or with use_topology off) appearance alone decides
    assert len(set(link(not_linked, cfg).identities)) == 1
    off = LinkConfig(threshold=0.5, mode=mode, use_topology=False)
    assert len(set(link(too_fast, off, Links()).identities)) == 1


@pytest.mark.parametrize("mode", ["batch", "online"])
def test_slack_admits_trimmed_tracklets_and_skip_a_camera_that_missed_the_vehicle(mode: str) -> None:
    f = unit(0, 1, 0)
    trimmed = [Sighting("a", 0, 5, f), Sighting("b", 26.5, 30, f)]  # gap 21.5 s: 1.5 s past the 20 s maximum
    tight = LinkConfig(threshold=0.5, mode=mode, travel={"slack": 0.0})
    loose = LinkConfig(threshold=0.5, mode=mode, travel={"slack": 2.0})
    assert len(set(link(trimmed, tight, Links()).identities)) == 2
    assert len(set(link(trimmed, loose, Links()).identities)) == 1
    # a -> c is not a link, but a vehicle can drive a -> b -> c with b missing it: at least 10 + 5 s
    through_b = [Sighting("a", 0, 5, f), Sighting("c", 21, 25, f)]
    faster_than_b = [Sighting("a", 0, 5, f), Sighting("c", 14, 18, f)]
    skip = LinkConfig(threshold=0.5, mode=mode, travel={"skip": 1})
    no_skip = LinkConfig(threshold=0.5, mode=mode, travel={"skip": 0})
    assert len(set(link(through_b, skip, Links()).identities)) == 1
    assert len(set(link(faster_than_b, skip, Links()).identities)) == 2
    assert len(set(link(through_b, no_skip, Links()).identities)) == 2


def test_route_through_connected_cameras_links_all_three() -> None:
    f = unit(1, 1, 0)
    s = [Sighting("a", 0, 5, f), Sighting("b", 20, 25, f), Sighting("c", 31, 35, f)]
    assert len(set(link(s, LinkConfig(threshold=0.5), Links()).identities)) == 1


def test_batch_clusters_by_appearance_and_numbers_by_first_appearance() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(4, 16, dtype=np.float32)
    sightings, truth = [], []
    for vehicle in range(4):
        for cam_i, cam in enumerate(["a", "b", "c"]):
            vec = centres[vehicle] + 0.1 * rng.standard_normal(16).astype(np.float32)
            t = 100.0 * cam_i + 10.0 * vehicle
            sightings.append(Sighting(cam, t, t + 5, vec / np.linalg.norm(vec), key=(cam, vehicle)))
            truth.append(vehicle)
    result = link(sightings, LinkConfig(threshold=0.6), next_id=7)
    ids = np.asarray(result.identities)
    for vehicle in range(4):
        assert len(set(ids[np.asarray(truth) == vehicle])) == 1
    assert len(set(ids.tolist())) == 4
    # ids start at next_id and follow first appearance (vehicle 0 is seen first)
    assert sorted(set(ids.tolist())) == [7, 8, 9, 10]
    assert ids[0] == 7 and ids[truth.index(3)] == 10
    assert result.new_identities == [7, 8, 9, 10]


@pytest.mark.parametrize("mode", ["batch", "online"])
def test_seeds_keep_ids_and_never_merge(mode: str) -> None:
    f1, f2 = unit(1, 0, 0), unit(0.9, 0.1, 0)
    s = [
        Sighting("a", 0, 5, f1, identity=3),
        Sighting("b", 0, 5, f2, identity=5),  # as similar as can be, but two stored identities stay two
        Sighting("c", 50, 55, unit(1, 0.02, 0)),  # new, joins the most similar seed
        Sighting("c", 60, 65, unit(0, 0, 1)),  # new, unlike anything: a new id
    ]
    result = link(s, LinkConfig(threshold=0.7, mode=mode), next_id=6)
    assert result.identities[:2] == [3, 5]
    assert result.identities[2] == 3
    assert result.identities[3] == 6
    assert result.new_identities == [6]


def test_threshold_extremes_and_missing_features() -> None:
    f = unit(1, 0)
    s = [Sighting("a", 0, 1, f), Sighting("b", 5, 6, f), Sighting("c", 9, 10, None)]
    high = link(s, LinkConfig(threshold=0.999)).identities
    assert high[0] == high[1]  # identical vectors reach similarity 1
    low = link([Sighting("a", 0, 1, unit(1, 0)), Sighting("b", 5, 6, unit(0, 1))], LinkConfig(threshold=0.1))
    assert len(set(low.identities)) == 2
    assert high[2] not in high[:2]  # no feature: an identity of its own


def test_rerank_mode_links_the_same_clusters() -> None:
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((3, 32)).astype(np.float32)
    sightings, truth = [], []
    for vehicle in range(3):
        for j in range(4):
            vec = centres[vehicle] + 0.15 * rng.standard_normal(32).astype(np.float32)
            sightings.append(Sighting(f"c{j}", 10.0 * vehicle, 10.0 * vehicle + 5, vec / np.linalg.norm(vec)))
            truth.append(vehicle)
    cfg = LinkConfig(threshold=0.5, rerank=True, rerank_k1=4, rerank_k2=2)
    ids = np.asarray(link(sightings, cfg).identities)
    assert len(set(ids.tolist())) == 3
    for vehicle in range(3):
        assert len(set(ids[np.asarray(truth) == vehicle].tolist())) == 1
    with pytest.raises(Exception, match="rerank_max_tracklets"):
        link(sightings, cfg.model_copy(update={"rerank_max_tracklets": 5}))


@pytest.mark.parametrize("mode", ["batch", "online"])
def test_vectors_of_two_sizes_or_with_nan_are_refused_with_a_reason(mode: str) -> None:
    from reid.errors import InputError

    cfg = LinkConfig(mode=mode)
    good = [Sighting("cam1", 0.0, 1.0, np.ones(4, np.float32)), Sighting("cam2", 5.0, 6.0, np.ones(4, np.float32))]
    with pytest.raises(InputError, match="sizes"):
        link([*good, Sighting("cam3", 9.0, 10.0, np.ones(3, np.float32))], cfg)
    with pytest.raises(InputError, match="non-finite"):
        link([*good, Sighting("cam3", 9.0, 10.0, np.array([1, np.nan, 0, 0], np.float32))], cfg)
