"""The live linker's threshold, calibrated on the streams themselves while they run (``link.threshold: auto``).

The same rule as a batch run (:mod:`reid.gallery.selfcal`), fed one tracklet at a time: a new tracklet's
similarities to the tracklets its own camera saw at the same time are "surely different" pairs; the confident
matches (mutual nearest neighbours among the recent tracklets of two cameras, :mod:`reid.live.recent`) are the
matches, and one that a later tracklet undoes is taken back. The threshold is read again after every tracklet; until enough pairs and matches have arrived
it is ``fallback_threshold``. Memory is fixed: two histograms (and the recent tracklets of each camera).
"""

from __future__ import annotations

import numpy as np

from reid.gallery.config import LinkConfig
from reid.gallery.selfcal import SelfCalibration, SimilarityHistogram, calibrate_threshold
from reid.live.recent import Observation, RecentTracklets


class LiveCalibration:
    """Running self-calibration of the linking threshold (see the module docstring)."""

    def __init__(self, cfg: LinkConfig, recent: int = 64) -> None:
        self.cfg = cfg
        self.different = SimilarityHistogram()
        self.matches = SimilarityHistogram()
        self.recent = RecentTracklets(recent)  # for observe(); a linker passes its own observations to add()
        self.tracklets = 0
        self.current = self._calibrate()

    def observe(self, camera: str, t_start: float, t_end: float, vector: np.ndarray) -> SelfCalibration:
        """Add one new tracklet (a unit vector); returns the calibration as it stands now."""
        return self.add(self.recent.observe(camera, t_start, t_end, vector))

    def add(self, obs: Observation) -> SelfCalibration:
        """Add what one new tracklet showed (:meth:`reid.live.recent.RecentTracklets.observe`)."""
        if obs.different.size:
            self.different.add(obs.different, obs.camera)
        self.matches.add([m.similarity for m in obs.matches], obs.camera)
        self.matches.remove([m.similarity for m in obs.undone])
        self.tracklets += 1
        self.current = self._calibrate()
        return self.current

    def _calibrate(self) -> SelfCalibration:
        return calibrate_threshold(self.different, self.matches, self.cfg.false_match_rate,
                                   self.cfg.calibration_min_pairs, self.cfg.fallback_threshold, self.tracklets)

    @property
    def threshold(self) -> float:
        return float(self.current.threshold)
