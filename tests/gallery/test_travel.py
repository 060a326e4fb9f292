"""Travel windows: fitting one against chance gaps, learning them on a camera chain without labels, using them
as a soft prior, and writing them out as a cameras.yaml that the topology loader reads back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reid.cameras import load_cameras
from reid.gallery.config import LinkConfig
from reid.gallery.linker import link
from reid.gallery.travel import TimePrior, TravelModel, TravelWindow, fit_window, write_cameras_yaml

from .sim import simulate


def test_fit_window_finds_the_true_window_among_chance_gaps() -> None:
    rng = np.random.default_rng(0)
    true = rng.uniform(10.0, 20.0, 40)  # real matches
    chance = rng.uniform(-60.0, 100.0, 40)  # look-alikes at any gap
    background = rng.uniform(-60.0, 100.0, 5000)
    fit = fit_window(np.r_[true, chance], background, min_matches=5, min_gain=6.0)
    assert fit is not None
    assert fit.lo <= 10.0 + 0.5 and fit.hi >= 20.0 - 0.5 and fit.hi - fit.lo < 16.0
    assert 25 <= fit.matches <= 55
    # gaps that fall like chance do not make a window
    assert fit_window(rng.uniform(-60.0, 100.0, 60), background, min_matches=5, min_gain=6.0) is None


def test_a_background_that_spans_years_gives_the_same_window_as_its_near_part() -> None:
    # a gallery that holds footage from long ago: gaps of years beside the minutes that matter (and a gap of a
    # track still in view, inf); the histogram is kept near the samples, the window stays where it was
    rng = np.random.default_rng(0)
    true = rng.uniform(10.0, 20.0, 40)
    chance = rng.uniform(-60.0, 100.0, 40)
    near = rng.uniform(-60.0, 100.0, 5000)
    far = rng.uniform(1e8, 3e9, 200)
    plain = fit_window(np.r_[true, chance], near, min_matches=5, min_gain=6.0)
    wide = fit_window(np.r_[true, chance, np.inf], np.r_[near, far, np.inf], min_matches=5, min_gain=6.0)
    assert plain is not None and wide is not None
    assert abs(wide.lo - plain.lo) < 1.0 and abs(wide.hi - plain.hi) < 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_learned_windows_contain_the_true_ones_on_a_camera_chain(seed: int) -> None:
    world = simulate(vehicles=150, cameras=3, seconds=300, noise=0.8, window=(8.0, 16.0), seed=seed)
    result = link(world.sightings, LinkConfig())
    report = result.report
    assert report.travel_source == "learned" and report.rounds >= 1
    learned = {(w.a, w.b): w for w in report.travel.links()}
    for pair, (lo, hi) in world.windows.items():
        assert pair in learned, (pair, sorted(learned))
        w = learned[pair]
        travelled = world.gaps[pair]  # the travel times the vehicles of this world took
        assert w.lo <= min(travelled) and w.hi >= max(travelled), (pair, w, min(travelled), max(travelled))
        assert w.lo >= lo - 0.25 * (hi - lo) and w.hi <= hi + 0.25 * (hi - lo), (pair, w)  # and not much more


def test_soft_prior_rewards_steps_inside_and_penalises_steps_outside() -> None:
    model = TravelModel(windows={("a", "b"): TravelWindow("a", "b", 10.0, 20.0)}, slack=1.0)
    prior = TimePrior(model, bonus=0.2, penalty=0.5)
    assert prior.step("a", "b", 15.0) == 0.2
    assert prior.step("b", "a", 20.5) == 0.2  # slack; windows between cameras are undirected
    assert prior.step("a", "b", 40.0) == -0.5
    assert prior.step("a", "c", 15.0) == 0.0  # nothing known about a-c
    assert prior.step("a", "a", 0.5) == 0.0 and prior.step("a", "a", 30.0) == -0.5  # a piece vs a revisit
    # with flows: flow 0 of a was seen reaching flow 1 of b, so it does not reach flow 0 of b, and flow 1 of b
    # does not come from flow 1 of a; about vehicles going from b to a it says nothing (camera window decides)
    model.flow_windows[(("a", 0), ("b", 1))] = TravelWindow("a", "b", 10.0, 20.0, flows=(0, 1))
    assert prior.step("a", "b", 15.0, 0, 1) == 0.2
    assert prior.step("a", "b", 40.0, 0, 1) == -0.5
    assert prior.step("a", "b", 15.0, 0, 0) == -0.5
    assert prior.step("a", "b", 15.0, 1, 1) == -0.5
    assert prior.step("b", "a", 15.0, 1, 0) == 0.2


def test_learned_windows_are_written_as_a_cameras_yaml_that_loads_back(tmp_path: Path) -> None:
    model = TravelModel(windows={("cam1", "cam2"): TravelWindow("cam1", "cam2", 3.5, 12.25, matches=14, samples=20),
                                 ("cam1", "cam1"): TravelWindow("cam1", "cam1", 0.0, 1.0)})
    path = tmp_path / "cameras.yaml"
    write_cameras_yaml(path, model, {"cam1": {"fps": 10.0, "start_time": 0.0}, "cam2": {"fps": 8.0, "start_time": 5}})
    cams = load_cameras(path)
    assert cams.travel_window("cam1", "cam2") == (3.5, 12.25)
    assert cams.cameras["cam2"].fps == 8.0 and cams.cameras["cam2"].start_time == 5.0
    assert len(cams.links) == 1  # same-camera windows are not links
    assert "14 matches of 20" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["cameras.yaml"]  # nothing half-written left beside it
