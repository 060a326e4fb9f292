"""Removing each camera's appearance bias from tracklet vectors before matching.

Every vehicle seen by one camera shares that camera's lighting, viewpoint, scale and background, and a
network trained on other data carries part of that into the vector: tracklets of one camera are more alike
than the vehicles are. Subtracting the camera's mean vector and normalising again (centring) removes the
shared part and leaves what tells vehicles apart. It needs no labels, only enough tracklets per camera for a
stable mean; a camera with fewer than ``min_tracklets`` is left as it is.

:class:`CameraCentring` keeps running sums, so a live linker can update the means as tracklets arrive.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalise(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return (features / np.maximum(norms, 1e-12)).astype(np.float32)


class CameraCentring:
    """Running per-camera means of unit vectors; ``transform`` centres and renormalises."""

    def __init__(self, dim: int, min_tracklets: int = 8) -> None:
        self.dim = dim
        self.min_tracklets = min_tracklets
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}

    def update(self, features: np.ndarray, cameras: Sequence[str]) -> None:
        feats = normalise(np.asarray(features, np.float32).reshape(-1, self.dim))
        cams = np.asarray(cameras)
        for cam in np.unique(cams):
            rows = feats[cams == cam]
            key = str(cam)
            self.sums[key] = self.sums.get(key, np.zeros(self.dim, np.float64)) + rows.sum(axis=0)
            self.counts[key] = self.counts.get(key, 0) + len(rows)

    def mean(self, camera: str) -> np.ndarray | None:
        """The camera's mean vector, or None while it has fewer than ``min_tracklets`` tracklets."""
        n = self.counts.get(camera, 0)
        if n < self.min_tracklets:
            return None
        return (self.sums[camera] / n).astype(np.float32)

    def transform(self, features: np.ndarray, cameras: Sequence[str]) -> np.ndarray:
        feats = normalise(np.asarray(features, np.float32).reshape(-1, self.dim))
        cams = np.asarray(cameras)
        out = feats.copy()
        for cam in np.unique(cams):
            mean = self.mean(str(cam))
            if mean is not None:
                out[cams == cam] -= mean
        return normalise(out)


def remove_camera_bias(features: np.ndarray, cameras: Sequence[str], min_tracklets: int = 8) -> np.ndarray:
    """Centre the unit vectors of each camera on that camera's mean and normalise again (batch form)."""
    feats = np.asarray(features, np.float32)
    centring = CameraCentring(feats.shape[1], min_tracklets)
    centring.update(feats, cameras)
    return centring.transform(feats, cameras)
