"""The live linker: each tracklet event gets a global id at once, and that id never changes during the run.

An event is attached to the identity whose prototype (the mean of its members' unit vectors) is the most
similar, at or above the threshold, and compatible with the hard constraints of the batch linker
(:class:`reid.gallery.linker.Constraints`: one camera never sees one vehicle twice at the same time, and with a
topology a vehicle's route must follow the links within their travel windows); otherwise it opens a new
identity. A later emission of the same track (a long stay) keeps the track's id and refreshes its vector in
the prototype.

Memory is bounded: each identity keeps its prototype (a vector sum and a count) and its ``recent`` latest
sightings, which are all the constraints look at; beyond ``max_identities`` the identities seen longest ago
leave the live search (they stay in the gallery, and ``reid gallery relink`` can still join them).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reid.gallery.config import LinkConfig
from reid.gallery.linker import Constraints, Sighting, Topology, topology_active
from reid.gallery.travel import TravelModel, dwell_times


@dataclass
class Assignment:
    """The answer for one event: its global id, the similarity to the identity it joined (None for a new one),
    whether the identity is new, and whether it was known before this run (from the gallery)."""

    global_id: int
    similarity: float | None
    new: bool
    known_before: bool


@dataclass
class _Identity:
    sum: np.ndarray
    count: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=8))  # Sighting values, latest last
    known_before: bool = False


class OnlineLinker:
    """Assigns global ids to tracklet events in arrival order (see the module docstring)."""

    def __init__(self, cfg: LinkConfig, topology: Topology | None = None, next_id: int = 1,
                 threshold: float | None = None, max_identities: int = 100_000, recent: int = 8) -> None:
        self.cfg = cfg
        self.topology = topology if (cfg.use_topology and topology_active(topology)) else None
        self.durations: dict[str, deque] = {}  # per camera, recent tracklet durations (crossing times)
        self.windows = self._windows()
        self.assigned = 0
        self.calibration = None
        if threshold is not None:
            self.fixed: float | None = float(threshold)
        elif cfg.threshold == "auto":  # calibrated on the streams as they run (reid.live.selfcal)
            from reid.live.selfcal import LiveCalibration

            self.calibration = LiveCalibration(cfg)
            self.fixed = None
        else:
            self.fixed = float(cfg.threshold)
        self.next_id = int(next_id)
        self.max_identities = max_identities
        self.recent = recent
        self.identities: OrderedDict[int, _Identity] = OrderedDict()  # least recently seen first
        self.tracks: dict[tuple[str, int], tuple[int, np.ndarray | None]] = {}  # -> (gid, vector counted)
        self.table = PrototypeTable()  # the identities' unit prototypes, one row each, updated in place

    # -- state ---------------------------------------------------------------------------------------------

    def seed(self, global_id: int, camera: str, t_start: float, t_end: float, feature: np.ndarray | None) -> None:
        """An identity known from the gallery (its members one by one); its id never changes."""
        ident = self._identity(global_id, known=True)
        if feature is not None:
            self._add(int(global_id), ident, _unit(feature), None)
        ident.recent.append(Sighting(camera, float(t_start), float(t_end), None))
        self.next_id = max(self.next_id, int(global_id) + 1)

    def _identity(self, gid: int, known: bool = False) -> _Identity:
        ident = self.identities.get(gid)
        if ident is None:
            ident = self.identities[gid] = _Identity(np.zeros(0, np.float32), recent=deque(maxlen=self.recent),
                                                      known_before=known)
        else:
            self.identities.move_to_end(gid)
        return ident

    # -- assignment ----------------------------------------------------------------------------------------

    def assign(self, camera: str, track_id: int, t_start: float, t_end: float,
               feature: np.ndarray | None, final: bool = True) -> Assignment:
        """The global id of one event (a track's first emission decides; later ones keep it).

        A track that is still in view (``final`` false: a long stay's periodic emission) counts as seen until
        further notice, so no other track of its camera can join its identity meanwhile.
        """
        key = (camera, int(track_id))
        t_end = float(t_end) if final else float("inf")
        vector = _unit(feature) if feature is not None else None
        if key in self.tracks:
            gid, old = self.tracks[key]
            ident = self._identity(gid)
            if vector is not None:
                self._add(gid, ident, vector, old)
            self.tracks[key] = (gid, vector if vector is not None else old)
            self._update_recent(ident, camera, key, t_start, t_end)
            return Assignment(gid, None, False, ident.known_before)
        new = Sighting(camera, float(t_start), float(t_end), None, key=key)
        self.durations.setdefault(camera, deque(maxlen=200)).append(max(0.0, float(t_end) - float(t_start)))
        self.assigned += 1
        if self.topology is not None and self.assigned % 100 == 0:
            self.windows = self._windows()  # routes through an unseen camera need its crossing time
        if self.calibration is not None and vector is not None:
            self.calibration.observe(camera, float(t_start), float(t_end), vector)
        gid, similarity = self._best(new, vector)
        is_new = gid is None
        if gid is None:
            gid = self.next_id
            self.next_id += 1
        ident = self._identity(gid)
        if vector is not None:
            self._add(gid, ident, vector, None)
        ident.recent.append(new)
        self.tracks[key] = (gid, vector)
        self._evict()
        return Assignment(gid, similarity, is_new, ident.known_before)

    def _windows(self) -> TravelModel | None:
        """The hand-written topology as hard travel windows (with the batch linker's slack and skipped cameras)."""
        if self.topology is None:
            return None
        cams = [c for c, d in self.durations.items() for _ in d]
        durations = [x for d in self.durations.values() for x in d]
        dwell = dwell_times(cams, durations) if durations else {}
        t = self.cfg.travel
        return TravelModel.from_topology(self.topology, set(self.durations), dwell, t.slack, t.skip)

    @property
    def threshold(self) -> float:
        """The similarity an event needs to join an identity (fixed, or as calibrated so far)."""
        return self.fixed if self.fixed is not None else self.calibration.threshold  # type: ignore[union-attr]

    def _best(self, new: Sighting, vector: np.ndarray | None) -> tuple[int | None, float | None]:
        if vector is None or not len(self.table):
            return None, None
        candidates = self.table.above(vector, self.threshold)  # best first; usually a handful
        for gid, score in candidates:
            recent = list(self.identities[gid].recent)
            cons = Constraints([*recent, new], self.windows, self.cfg)
            if cons.compatible(list(range(len(recent))), [len(recent)]):
                return gid, score
        return None, None

    def _add(self, gid: int, ident: _Identity, vector: np.ndarray, old: np.ndarray | None) -> None:
        if ident.sum.size == 0:
            ident.sum = np.zeros_like(vector)
        if old is not None:
            ident.sum -= old
        else:
            ident.count += 1
        ident.sum += vector
        self.table.put(gid, ident.sum)

    def _update_recent(self, ident: _Identity, camera: str, key: tuple[str, int], t_start: float,
                       t_end: float) -> None:
        for i, s in enumerate(ident.recent):
            if s.key == key:
                ident.recent[i] = Sighting(camera, float(t_start), float(t_end), None, key=key)
                return
        ident.recent.append(Sighting(camera, float(t_start), float(t_end), None, key=key))

    def _evict(self) -> None:
        while len(self.identities) > self.max_identities:
            gid, _ = self.identities.popitem(last=False)
            self.tracks = {k: v for k, v in self.tracks.items() if v[0] != gid}
            self.table.remove(gid)

    def rename(self, old: int, new: int) -> None:
        """Identity ``old`` is stored as ``new`` (the gallery gave another id): follow it."""
        if old == new or old not in self.identities:
            return
        self.identities[new] = self.identities.pop(old)
        self.tracks = {k: ((new, v) if g == old else (g, v)) for k, (g, v) in self.tracks.items()}
        self.next_id = max(self.next_id, new + 1)
        self.table.rename(old, new)

    def forget_track(self, camera: str, track_id: int) -> None:
        """A track has ended: its later emissions cannot come; drop the bookkeeping (memory stays flat)."""
        self.tracks.pop((camera, int(track_id)), None)


def _unit(v: Any) -> np.ndarray:
    v = np.asarray(v, np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


class PrototypeTable:
    """Unit prototypes of the live identities, one row of a preallocated matrix each.

    An event changes one prototype, so the row is rewritten in place and a removed identity's row is reused:
    scoring an event costs one matrix-vector product over the live identities, never a rebuild of the whole
    matrix (which made each event O(identities x dim) in allocations and capped a linker with 10,000 live
    identities at about 12 events per second).
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self.matrix: np.ndarray | None = None  # (capacity, dim); free rows are zero and masked out
        self.gids = np.full(capacity, -1, np.int64)  # identity of each row, -1 when free
        self.slot: dict[int, int] = {}
        self.free: list[int] = list(range(capacity - 1, -1, -1))

    def __len__(self) -> int:
        return len(self.slot)

    def put(self, gid: int, vector_sum: np.ndarray) -> None:
        """Set identity ``gid``'s prototype to the direction of ``vector_sum`` (added if new)."""
        v = np.asarray(vector_sum, np.float32).reshape(-1)
        if self.matrix is None:
            self.matrix = np.zeros((self.capacity, v.size), np.float32)
        elif v.size != self.matrix.shape[1]:
            return  # another embedding size: such a vector can never be compared, as before
        row = self.slot.get(gid)
        if row is None:
            if not self.free:
                self._grow()
            row = self.free.pop()
            self.slot[gid] = row
            self.gids[row] = gid
        norm = float(np.linalg.norm(v))
        self.matrix[row] = v / max(norm, 1e-12)

    def remove(self, gid: int) -> None:
        row = self.slot.pop(gid, None)
        if row is not None and self.matrix is not None:
            self.matrix[row] = 0.0
            self.gids[row] = -1
            self.free.append(row)

    def rename(self, old: int, new: int) -> None:
        if new != old and new in self.slot:
            self.remove(new)  # the identity now stored under ``new`` replaces it, as in OnlineLinker.rename
        row = self.slot.pop(old, None)
        if row is not None:
            self.slot[new] = row
            self.gids[row] = new

    def above(self, vector: np.ndarray, threshold: float) -> list[tuple[int, float]]:
        """The identities whose prototype scores ``threshold`` or more against ``vector``, best first."""
        if self.matrix is None or not self.slot or vector.size != self.matrix.shape[1]:
            return []
        scores = self.matrix @ vector
        rows = np.flatnonzero((scores >= threshold) & (self.gids >= 0))
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        return [(int(self.gids[r]), float(scores[r])) for r in rows]

    def _grow(self) -> None:
        old = self.capacity  # only called once a row was written, so the matrix exists
        self.capacity *= 2
        self.matrix = np.vstack([self.matrix, np.zeros((old, self.matrix.shape[1]), np.float32)])
        self.gids = np.concatenate([self.gids, np.full(old, -1, np.int64)])
        self.free.extend(range(self.capacity - 1, old - 1, -1))
