"""What the live linker learns while the streams run: each camera's mean look (camera_bias), and the travel
windows between cameras, used as the batch linker's time prior; batch ``mode: online`` is the same replay."""

from __future__ import annotations

import numpy as np

from reid.gallery.config import LinkConfig
from reid.gallery.linker import Sighting, link
from reid.live.linker import OnlineLinker


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def jitter(rng: np.random.Generator, amount: float, dim: int = 32) -> np.ndarray:
    """A random vector of length ``amount`` (the noise of one sighting's look)."""
    return amount * unit(rng.standard_normal(dim))


def traffic(rng: np.random.Generator, vehicles: int, travel: float, noise: float = 0.3, dim: int = 32):
    """Vehicles that cross cam1, then cam2 ``travel`` seconds later; one every 6 s (two share each view)."""
    looks = [unit(rng.standard_normal(dim)) for _ in range(vehicles)]
    events = []
    for i, look in enumerate(looks):
        t = 6.0 * i
        events.append(("cam1", t, t + 8.0, unit(look + jitter(rng, noise, dim)), i))
        events.append(("cam2", t + 8.0 + travel, t + 16.0 + travel, unit(look + jitter(rng, noise, dim)), i))
    events.sort(key=lambda e: e[2])  # a live linker receives tracklets when they end
    return looks, events


def test_the_live_linker_learns_the_travel_window_and_prefers_joins_inside_it() -> None:
    rng = np.random.default_rng(0)
    looks, events = traffic(rng, 30, travel=10.0)
    cfg = LinkConfig(threshold=0.75, camera_bias=False, travel={"min_matches": 3})
    linker = OnlineLinker(cfg)
    for k, (cam, t0, t1, v, _) in enumerate(events):
        linker.assign(cam, k, t0, t1, v)
    assert linker.prior is not None  # learned from the streams
    window = linker.travel.model.window("cam1", "cam2")
    assert window is not None and window[0] <= 10.0 <= window[1] and window[1] < 30.0
    # a new vehicle in cam1, then two cam2 tracklets that both look like it: one 10 s after (in the window,
    # a little less alike), one 60 s after; the in-window one joins it, the other does not
    look = unit(rng.standard_normal(32))
    t = 6.0 * 30 + 100.0
    first = linker.assign("cam1", 1000, t, t + 8.0, unit(look + jitter(rng, 0.05)))
    outside = linker.assign("cam2", 1002, t + 68.0, t + 76.0, unit(look + jitter(rng, 0.05)))
    assert outside.global_id != first.global_id  # the penalty keeps it out, though it looks alike
    inside = linker.assign("cam2", 1001, t + 18.0, t + 26.0, unit(look + jitter(rng, 0.3)))
    assert inside.global_id == first.global_id


def test_without_learning_the_same_out_of_window_tracklet_joins_on_looks_alone() -> None:
    rng = np.random.default_rng(0)
    _, events = traffic(rng, 30, travel=10.0)
    linker = OnlineLinker(LinkConfig(threshold=0.75, camera_bias=False, travel={"learn": False}))
    for k, (cam, t0, t1, v, _) in enumerate(events):
        linker.assign(cam, k, t0, t1, v)
    assert linker.prior is None
    look = unit(rng.standard_normal(32))
    t = 6.0 * 30 + 100.0
    first = linker.assign("cam1", 1000, t, t + 8.0, unit(look + jitter(rng, 0.05)))
    outside = linker.assign("cam2", 1002, t + 68.0, t + 76.0, unit(look + jitter(rng, 0.05)))
    assert outside.global_id == first.global_id


def test_camera_centring_removes_a_look_every_vehicle_of_one_camera_shares() -> None:
    rng = np.random.default_rng(1)
    bias = 1.2 * unit(rng.standard_normal(32))  # e.g. a tinted camera: every vector leans the same way
    looks, events = traffic(rng, 24, travel=10.0, noise=0.25)
    events = [(cam, t0, t1, unit(v + bias) if cam == "cam2" else v, i) for cam, t0, t1, v, i in events]

    def correct_joins(camera_bias: bool) -> int:
        linker = OnlineLinker(LinkConfig(threshold=0.7, camera_bias=camera_bias, travel={"learn": False}))
        gid = {}
        for k, (cam, t0, t1, v, i) in enumerate(events):
            gid[(cam, i)] = linker.assign(cam, k, t0, t1, v).global_id
        return sum(gid[("cam1", i)] == gid[("cam2", i)] for i in range(len(looks)))

    raw, centred = correct_joins(False), correct_joins(True)
    assert centred >= len(looks) // 2 and centred > raw + 5


def test_batch_online_mode_is_the_live_linker_fed_in_the_order_tracklets_end() -> None:
    rng = np.random.default_rng(2)
    _, events = traffic(rng, 20, travel=12.0)
    sightings = [Sighting(cam, t0, t1, v, key=(cam, k)) for k, (cam, t0, t1, v, _) in enumerate(events)]
    shuffled = [sightings[i] for i in rng.permutation(len(sightings))]
    cfg = LinkConfig(mode="online", threshold=0.75)
    result = link(shuffled, cfg)
    linker = OnlineLinker(cfg)
    live = {s.key: linker.assign(s.camera, k, s.t_start, s.t_end, s.feature).global_id
            for k, s in enumerate(sightings)}
    batch = {s.key: g for s, g in zip(shuffled, result.identities, strict=True)}
    # the same partition (ids are numbered in the same order of arrival)
    assert batch == live
    assert result.report is not None and result.report.travel_source in ("learned", "none")


def test_a_restarted_linker_has_the_gallery_cameras_means_from_its_first_tracklet() -> None:
    rng = np.random.default_rng(3)
    bias = 1.2 * unit(rng.standard_normal(32))
    looks, events = traffic(rng, 12, travel=10.0, noise=0.2)
    stored = []
    for cam, t0, t1, v, i in events:
        v = unit(v + bias) if cam == "cam2" else v
        stored.append(type("Stored", (), {"identity": i + 1, "camera": cam, "t_start": t0, "t_end": t1,
                                          "feature": v})())
    linker = OnlineLinker(LinkConfig(threshold=0.7, travel={"learn": False}), next_id=100)
    linker.seed_all(stored)
    # vehicle 3 comes back to cam2: its centred vector matches its identity, not a new one
    back = linker.assign("cam2", 500, 400.0, 408.0, unit(unit(looks[3] + jitter(rng, 0.2)) + bias))
    assert back.global_id == 4 and back.known_before
