"""What a live linker remembers of the latest tracklets of each camera, and what each new tracklet says about them.

Two things are learned on the streams while they run, and both start from the same comparison of a new
tracklet with the recent ones:

- the tracklets its own camera saw at the same time are surely other vehicles: their similarities calibrate the
  threshold (:mod:`reid.live.selfcal`);
- confident matches, the pairs of tracklets of two cameras that are each other's most similar tracklet in the
  other camera (mutual nearest neighbours), calibrate the threshold too, and the time between the two sightings
  teaches the travel windows (:mod:`reid.live.travel`).

Mutual nearest neighbours are kept as batch linking finds them, not only as they look when a tracklet arrives:
every remembered tracklet keeps its best match in each other camera, and a later tracklet that is more similar
takes that place, which undoes a match made earlier (an arrival's best match among the tracklets seen *so far*
is often not its best one; counting those lowered the calibrated threshold). An observation therefore reports
the matches that appear and the ones that no longer hold. Once a tracklet leaves the memory its matches stay
as they are.

Memory is fixed: the ``size`` latest tracklets of each camera (a serial number, two times, a unit vector and its
best match per camera) and the matches among them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Match:
    """A confident match: the serial numbers, cameras and times of its two tracklets (``a`` arrived first),
    and their similarity."""

    a: int
    b: int
    camera_a: str
    camera_b: str
    times_a: tuple[float, float]
    times_b: tuple[float, float]
    similarity: float


@dataclass
class Observation:
    """What one new tracklet showed: similarities to the tracklets of its camera that overlapped it in time,
    the confident matches that appeared with it, and those that no longer hold because of it."""

    camera: str
    serial: int
    different: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    matches: list[Match] = field(default_factory=list)
    undone: list[Match] = field(default_factory=list)


@dataclass
class _Entry:
    serial: int
    t_start: float
    t_end: float
    vector: np.ndarray
    best: dict[str, tuple[int, float]] = field(default_factory=dict)  # camera -> (serial, similarity)


class RecentTracklets:
    """The latest tracklets of each camera and the mutual matches among them (see the module docstring)."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.cameras: dict[str, deque[_Entry]] = {}
        self.matches: dict[tuple[int, int], Match] = {}  # (earlier serial, later serial) -> the match
        self.serial = 0

    def observe(self, camera: str, t_start: float, t_end: float, vector: np.ndarray,
                serial: int | None = None) -> Observation:
        """Compare a new tracklet (a unit vector) with the recent ones, then remember it under ``serial`` (the
        caller's number for it; by default the next of this memory's own)."""
        own = self.cameras.setdefault(camera, deque(maxlen=self.size))
        if serial is None:
            serial = self.serial
            self.serial += 1
        new = _Entry(serial, float(t_start), float(t_end), vector)
        obs = Observation(camera, serial)
        overlapping = [e.vector for e in own if min(e.t_end, t_end) - max(e.t_start, t_start) > 0]
        if overlapping:
            obs.different = np.stack(overlapping) @ vector
        for other, items in self.cameras.items():
            if other == camera or not items:
                continue
            sims = np.stack([e.vector for e in items]) @ vector
            for entry, sim in zip(items, sims.tolist(), strict=True):
                held = entry.best.get(camera)
                if held is None or sim > held[1]:  # the new tracklet is now this one's best in our camera
                    if held is not None:
                        undone = self.matches.pop(_key(entry.serial, held[0]), None)
                        if undone is not None:
                            obs.undone.append(undone)
                    entry.best[camera] = (serial, sim)
            k = int(np.argmax(sims))
            partner = items[k]
            new.best[other] = (partner.serial, float(sims[k]))
            if partner.best[camera][0] == serial:  # mutual
                match = Match(partner.serial, serial, other, camera, (partner.t_start, partner.t_end),
                              (new.t_start, new.t_end), float(sims[k]))
                self.matches[_key(partner.serial, serial)] = match
                obs.matches.append(match)
        if len(own) == own.maxlen:
            self._forget(own[0])
        own.append(new)
        return obs

    def _forget(self, entry: _Entry) -> None:
        """A tracklet leaves the memory: its matches can no longer change, so they are no longer tracked."""
        for serial, _ in entry.best.values():
            self.matches.pop(_key(entry.serial, serial), None)


def _key(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)
