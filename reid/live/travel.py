"""Travel windows learned from the streams while they run: the live linker's time prior.

Batch linking learns, from confident matches between cameras (mutual nearest neighbours), how long vehicles
take from one camera to the next, and uses those windows as a soft prior: a join whose route step falls inside
its window gains ``travel.bonus``, one outside loses ``travel.penalty`` (:mod:`reid.gallery.travel`). A live
linker cannot wait for the whole footage, so it learns the same windows from what it has seen so far and
learns them again every ``every`` tracklets:

- the confident matches of the recent tracklets (:mod:`reid.live.recent`) whose similarity reaches the
  threshold (plus ``travel.margin``) as it stands when the windows are learned;
- the identities the gallery already held when the run started (each identity's consecutive sightings), so a
  restarted run has its windows from its first tracklet;
- against the gaps of all pairs of the remembered tracklets as the background (a window must explain more
  matches than chance gaps would, by ``travel.min_gain`` nats).

Memory is fixed: the times of the ``history`` latest tracklets and the matches among them. With a hand-written
topology the linker uses its windows (hard, and the same prior inside them) and learns nothing here.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from reid.gallery.config import LinkConfig
from reid.gallery.travel import LearnSettings, TimePrior, TravelModel, learn_windows
from reid.live.recent import Match


class OnlineTravel:
    """Travel windows learned from the tracklets seen so far (see the module docstring)."""

    def __init__(self, cfg: LinkConfig, history: int = 2000, every: int = 5) -> None:
        self.t = cfg.travel
        self.every = every
        self.history: deque[tuple[int, str, float, float]] = deque(maxlen=history)  # serial, camera, times
        self.matches: dict[tuple[int, int], float] = {}  # serials (earlier, later) -> similarity
        self.known: dict[int, list[tuple[float, int]]] = {}  # gallery identity -> (t_start, serial) of members
        self.waiting = 0
        self.model: TravelModel | None = None
        self.prior: TimePrior | None = None
        self.learned = 0  # times the windows were learned

    def seed(self, identity: int, serial: int, camera: str, t_start: float, t_end: float) -> None:
        """A sighting of an identity the gallery held when the run started."""
        self.history.append((serial, camera, float(t_start), float(t_end)))
        self.known.setdefault(int(identity), []).append((float(t_start), serial))
        self.waiting = self.every  # learn from them before the first new tracklet

    def add(self, serial: int, camera: str, t_start: float, t_end: float, matches: list[Match],
            undone: list[Match], threshold: float) -> None:
        """A new tracklet, the confident matches that appeared with it and those it undid; learns the windows
        again when it is time."""
        self.history.append((serial, camera, float(t_start), float(t_end)))
        for m in undone:
            self.matches.pop((m.a, m.b), None)
        self.matches.update({(m.a, m.b): m.similarity for m in matches})
        self.waiting += 1
        if self.waiting >= self.every:
            self.learn(threshold)

    def learn(self, threshold: float) -> None:
        """Learn the windows from the remembered tracklets and matches (``threshold``: the linker's, now)."""
        self.waiting = 0
        pos = {serial: i for i, (serial, *_) in enumerate(self.history)}
        floor = threshold + self.t.margin
        for key in [k for k in self.matches if k[0] not in pos]:
            del self.matches[key]  # older than the remembered tracklets (memory stays bounded)
        steps = [(pos[a], pos[b]) for (a, b), sim in self.matches.items() if sim >= floor and b in pos]
        for identity, members in list(self.known.items()):
            members = [m for m in members if m[1] in pos]
            if len(members) < 2:
                self.known.pop(identity)
                continue
            self.known[identity] = members
            members.sort()
            steps += [(pos[a], pos[b]) for (_, a), (_, b) in zip(members, members[1:], strict=False)]
        if not steps:
            return
        cams = [c for _, c, _, _ in self.history]
        t0 = np.array([a for *_, a, _ in self.history], np.float64)
        t1 = np.array([b for *_, b in self.history], np.float64)
        settings = LearnSettings(min_matches=self.t.min_matches, min_gain=self.t.min_gain)
        model = learn_windows(cams, t0, t1, steps, settings, self.t.slack, self.t.skip)
        self.learned += 1
        if any(a != b for a, b in model.windows):  # a window between two cameras: a prior worth having
            self.model = model
            self.prior = TimePrior(model, self.t.bonus, self.t.penalty)
