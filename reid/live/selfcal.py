"""The live linker's threshold, calibrated on the streams themselves while they run (``link.threshold: auto``).

The same rule as a batch run (:mod:`reid.gallery.selfcal`), fed one tracklet at a time: a new tracklet's
similarities to the tracklets its own camera saw at the same time are "surely different" pairs; its best match
in each other camera, when that tracklet's best match in this camera is the new one (mutual nearest neighbours
among the recent tracklets), is a confident match. The threshold is read again after every tracklet; until
enough pairs and matches have arrived it is ``fallback_threshold``. Memory is fixed: two histograms and the
``recent`` latest tracklets of each camera.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from reid.gallery.config import LinkConfig
from reid.gallery.selfcal import SelfCalibration, SimilarityHistogram, calibrate_threshold


class LiveCalibration:
    """Running self-calibration of the linking threshold (see the module docstring)."""

    def __init__(self, cfg: LinkConfig, recent: int = 64) -> None:
        self.cfg = cfg
        self.different = SimilarityHistogram()
        self.matches = SimilarityHistogram()
        self.recent: dict[str, deque[tuple[float, float, np.ndarray]]] = {}
        self.size = recent
        self.tracklets = 0
        self.current = self._calibrate()

    def observe(self, camera: str, t_start: float, t_end: float, vector: np.ndarray) -> SelfCalibration:
        """Add one new tracklet (a unit vector); returns the calibration as it stands now."""
        own = self.recent.setdefault(camera, deque(maxlen=self.size))
        overlapping = [v for a, b, v in own if min(b, t_end) - max(a, t_start) > 0]
        if overlapping:
            self.different.add(np.stack(overlapping) @ vector, camera)
        for other, items in self.recent.items():
            if other == camera or not items:
                continue
            vectors = np.stack([v for _, _, v in items])
            sims = vectors @ vector
            best = int(np.argmax(sims))
            back = np.stack([v for _, _, v in own] + [vector]) @ vectors[best] if own else np.array([sims[best]])
            if int(np.argmax(back)) == len(back) - 1:  # the new tracklet is that one's best match here too
                self.matches.add([float(sims[best])], camera)
        own.append((float(t_start), float(t_end), vector))
        self.tracklets += 1
        self.current = self._calibrate()
        return self.current

    def _calibrate(self) -> SelfCalibration:
        return calibrate_threshold(self.different, self.matches, self.cfg.false_match_rate,
                                   self.cfg.calibration_min_pairs, self.cfg.fallback_threshold, self.tracklets)

    @property
    def threshold(self) -> float:
        return float(self.current.threshold)
