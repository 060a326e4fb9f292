"""A small simulated camera chain for linking tests: vehicles drive along cameras ``c1 - c2 - ...`` with travel
times drawn inside each link's window, and each sighting's vector is the vehicle's own direction plus the
camera's bias plus noise. Fast and exactly known, unlike a rendered scene."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reid.gallery.linker import Sighting


@dataclass
class World:
    sightings: list[Sighting]
    truth: list[int]
    windows: dict[tuple[str, str], tuple[float, float]]  # true (min, max) travel per adjacent pair
    gaps: dict[tuple[str, str], list[float]]  # the travel times actually drawn

    @property
    def cameras(self) -> list[str]:
        return sorted({s.camera for s in self.sightings})


def simulate(vehicles: int = 120, cameras: int = 3, seconds: float = 240.0, window: tuple[float, float] = (8.0, 16.0),
             noise: float = 0.6, bias: float = 0.8, dim: int = 32, seed: int = 0) -> World:
    rng = np.random.default_rng(seed)
    names = [f"c{k + 1}" for k in range(cameras)]
    camera_bias = rng.standard_normal((cameras, dim)) * bias / np.sqrt(dim)
    sightings: list[Sighting] = []
    truth: list[int] = []
    gaps: dict[tuple[str, str], list[float]] = {}
    for v in range(vehicles):
        identity = rng.standard_normal(dim)
        identity /= np.linalg.norm(identity)
        forward = rng.random() < 0.5
        start = int(rng.integers(cameras))
        reach = cameras - start if forward else start + 1
        route = [start + k if forward else start - k for k in range(int(rng.integers(1, reach + 1)))]
        t = float(rng.uniform(0, seconds))
        for k, c in enumerate(route):
            cross = float(rng.uniform(3.0, 5.0))
            vec = identity + camera_bias[c] + noise * rng.standard_normal(dim) / np.sqrt(dim)
            sightings.append(Sighting(names[c], t, t + cross, (vec / np.linalg.norm(vec)).astype(np.float32),
                                      key=(names[c], v)))
            truth.append(v)
            if k + 1 < len(route):
                travel = float(rng.uniform(*window))
                pair = tuple(sorted((names[c], names[route[k + 1]])))
                gaps.setdefault(pair, []).append(travel)
                t += cross + travel
    windows = {(names[k], names[k + 1]): window for k in range(cameras - 1)}
    return World(sightings, truth, windows, gaps)
