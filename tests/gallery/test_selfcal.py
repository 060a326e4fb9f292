"""Self-calibration of the linking threshold: the streaming histogram, the pairs it is fed, and the threshold
it gives on a camera chain with no labels against the one calibrating on the truth picks."""

from __future__ import annotations

import numpy as np
import pytest

from reid.gallery.calibrate import calibrate
from reid.gallery.config import LinkConfig
from reid.gallery.linker import link
from reid.gallery.selfcal import (
    BINS,
    SimilarityHistogram,
    calibrate_threshold,
    different_pairs,
    overlapping_pairs,
    pair_histogram,
)

from .sim import simulate


def test_histogram_quantiles_match_numpy_to_the_bin_width() -> None:
    sims = np.random.default_rng(0).uniform(-0.6, 0.95, 5000)
    hist = SimilarityHistogram()
    hist.add(sims)
    for q in (0.5, 0.9, 0.95, 0.99):
        assert abs(hist.quantile(q) - np.quantile(sims, q)) <= 2.0 / BINS + 1e-9
    assert hist.threshold(0.05) == hist.quantile(0.95)


def test_incremental_updates_and_merges_equal_one_batch() -> None:
    sims = np.random.default_rng(1).normal(0.1, 0.2, 3000).clip(-1, 1)
    batch = SimilarityHistogram()
    batch.add(sims, camera="a")
    stream, other = SimilarityHistogram(), SimilarityHistogram()
    for chunk in np.array_split(sims[:2000], 40):  # a live linker: a few pairs per new tracklet
        stream.add(chunk, camera="a")
    other.add(sims[2000:], camera="a")
    stream.merge(other)  # e.g. from another worker
    assert np.array_equal(stream.counts, batch.counts) and stream.total == 3000
    assert stream.threshold(0.05) == batch.threshold(0.05)


def test_overlapping_pairs_are_exactly_the_same_camera_pairs_that_overlap() -> None:
    rng = np.random.default_rng(2)
    n = 200
    cams = rng.choice(["a", "b", "c"], n)
    starts = rng.uniform(0, 100, n)
    ends = starts + rng.uniform(0.5, 8, n)
    a, b = overlapping_pairs(cams, starts, ends)
    found = set(zip(a.tolist(), b.tolist(), strict=True))
    expected = {(i, j) for i in range(n) for j in range(i + 1, n)
                if cams[i] == cams[j] and max(starts[i], starts[j]) < min(ends[i], ends[j])}
    assert found == expected and len(found) > 50


def test_threshold_is_the_median_match_never_below_the_false_match_floor() -> None:
    rng = np.random.default_rng(3)
    different, matches = SimilarityHistogram(), SimilarityHistogram()
    different.add(rng.normal(0.0, 0.15, 400).clip(-1, 1))
    matches.add(rng.normal(0.7, 0.05, 100).clip(-1, 1))
    cal = calibrate_threshold(different, matches, 0.05, min_pairs=10, fallback=0.6)
    assert cal.source == "self" and cal.threshold == matches.quantile(0.5) and cal.floor == different.threshold(0.05)
    # cameras that share no vehicle: their "matches" are chance look-alikes, and the floor holds
    chance = SimilarityHistogram()
    chance.add(rng.normal(0.0, 0.1, 100).clip(-1, 1))
    assert calibrate_threshold(different, chance, 0.05, 20, 0.6).threshold == different.threshold(0.05)


def test_too_few_pairs_fall_back_to_the_configured_threshold() -> None:
    feats = np.eye(3, dtype=np.float32)
    hist = different_pairs(feats, ["a", "a", "b"], np.array([0.0, 1.0, 0.0]), np.array([5.0, 6.0, 5.0]))
    assert hist.total == 1
    cal = calibrate_threshold(hist, pair_histogram(feats, [(0, 2)]), 0.05, min_pairs=10, fallback=0.6)
    assert cal.source == "fallback" and cal.threshold == 0.6 and cal.pairs == 1 and cal.matches == 1


@pytest.mark.parametrize("seed", [0, 1])
def test_self_calibration_without_labels_lands_near_the_truth_calibrated_threshold(seed: int) -> None:
    world = simulate(vehicles=150, cameras=3, seconds=300, noise=0.8, seed=seed)
    auto = link(world.sightings, LinkConfig())
    assert auto.report.calibration.source == "self" and auto.report.calibration.pairs >= 30
    thresholds = [round(0.05 * k, 2) for k in range(2, 19)]
    truth = calibrate(world.sightings, world.truth, LinkConfig(), thresholds=thresholds)
    chosen = auto.report.calibration.threshold
    assert abs(chosen - truth.best.threshold) <= 0.15, (chosen, truth.best.threshold)
    # and near in what matters: the identities it gives score close to the truth-calibrated best
    at_chosen = calibrate(world.sightings, world.truth, LinkConfig(), thresholds=[chosen]).best.idf1
    assert at_chosen >= truth.best.idf1 - 0.05, (at_chosen, truth.best.idf1)
