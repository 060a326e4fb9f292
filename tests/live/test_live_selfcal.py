"""The live linker calibrates its threshold on the streams as they run: surely-different pairs from one camera
at one time, confident matches from mutual nearest neighbours across cameras; the fallback until enough arrive."""

from __future__ import annotations

import numpy as np

from reid.gallery.config import LinkConfig
from reid.live.linker import OnlineLinker
from reid.live.selfcal import LiveCalibration


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_the_threshold_lands_between_different_pairs_and_true_matches() -> None:
    rng = np.random.default_rng(0)
    cal = LiveCalibration(LinkConfig(calibration_min_pairs=5))
    assert cal.current.source == "fallback" and cal.threshold == 0.6
    vehicles = [unit(rng.standard_normal(32)) for _ in range(40)]
    for i, v in enumerate(vehicles):  # each vehicle crosses cam1, then cam2; three at a time share a view
        t = 2.0 * i
        cal.observe("cam1", t, t + 5.0, unit(v + 0.15 * rng.standard_normal(32)))
        cal.observe("cam2", t + 20.0, t + 25.0, unit(v + 0.15 * rng.standard_normal(32)))
    current = cal.current
    assert current.source == "self" and current.pairs > 20 and current.matches > 20
    same = [float(unit(v + 0.15 * rng.standard_normal(32)) @ unit(v + 0.15 * rng.standard_normal(32)))
            for v in vehicles]
    different = [float(vehicles[i] @ vehicles[i + 1]) for i in range(len(vehicles) - 1)]
    assert max(different) < cal.threshold <= np.median(same) + 0.05


def test_the_online_linker_uses_the_calibrated_threshold_when_none_is_given() -> None:
    linker = OnlineLinker(LinkConfig())  # threshold: auto
    assert linker.calibration is not None and linker.threshold == LinkConfig().fallback_threshold
    fixed = OnlineLinker(LinkConfig(threshold=0.7))
    assert fixed.calibration is None and fixed.threshold == 0.7
