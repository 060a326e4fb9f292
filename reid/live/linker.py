"""The live linker: each tracklet event gets a global id at once, and that id never changes during the run.

An event is attached to the identity whose prototype (the mean of its members' unit vectors) is the most
similar, at or above the threshold (the prototype's dot product with a unit vector is the average similarity to
the members: average linkage, the score of batch linking, so one threshold means the same in both), and compatible with the hard constraints of the batch linker
(:class:`reid.gallery.linker.Constraints`: one camera never sees one vehicle twice at the same time, and with a
topology a vehicle's route must follow the links within their travel windows); otherwise it opens a new
identity. As in batch linking, the similarity is weighed with the time prior: a join whose route step falls in
its travel window gains ``travel.bonus``, one outside loses ``travel.penalty``. The windows are the topology's
when one is given, else learned from the streams as they run (:mod:`reid.live.travel`, ``travel.learn``).
With ``camera_bias`` (the default, as in batch linking) each vector is first centred on its camera's mean
vector so far (:class:`reid.gallery.camera_bias.CameraCentring`), which removes the look every vehicle of one
camera shares; the gallery's tracklets give those means from the start of a restarted run. A later emission of the same track (a long stay) keeps the track's id and refreshes its vector in
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

from reid.gallery.camera_bias import CameraCentring
from reid.gallery.config import LinkConfig
from reid.gallery.linker import Constraints, LinkReport, Sighting, Topology, route_prior, topology_active
from reid.gallery.selfcal import SelfCalibration
from reid.gallery.travel import TimePrior, TravelModel, dwell_times
from reid.live.recent import RecentTracklets


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
        self.serial = 0  # a number for every sighting the linker has seen (seeds included)
        self.centring: CameraCentring | None = None  # running per-camera means, with cfg.camera_bias
        self.memory = RecentTracklets()  # the latest tracklets of each camera, for what they teach
        self.travel = None
        if self.topology is None and cfg.travel.learn:
            from reid.live.travel import OnlineTravel

            self.travel = OnlineTravel(cfg)
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
        self.table = PrototypeTable()  # the identities' prototypes, one row each, updated in place

    # -- state ---------------------------------------------------------------------------------------------

    def seed_all(self, tracklets: Any) -> None:
        """The gallery's tracklets (objects with ``identity``, ``camera``, ``t_start``, ``t_end``, ``feature``):
        the cameras' means first, then each tracklet as :meth:`seed` does."""
        tracklets = list(tracklets)
        for t in tracklets:
            self._vector(t.camera, t.feature, learn=True)
        for t in tracklets:
            self.seed(t.identity, t.camera, t.t_start, t.t_end, t.feature, learn=False)

    def seed(self, global_id: int, camera: str, t_start: float, t_end: float, feature: np.ndarray | None,
             learn: bool = True) -> None:
        """An identity known from the gallery (its members one by one); its id never changes. ``learn``: the
        vector counts towards its camera's mean (:meth:`seed_all` counted it already)."""
        ident = self._identity(global_id, known=True)
        vector = self._vector(camera, feature, learn)
        if vector is not None:
            self._add(int(global_id), ident, vector, None)
        ident.recent.append(Sighting(camera, float(t_start), float(t_end), None))
        self.next_id = max(self.next_id, int(global_id) + 1)
        if self.travel is not None:
            self.travel.seed(int(global_id), self._next_serial(), camera, t_start, t_end)

    def _next_serial(self) -> int:
        self.serial += 1
        return self.serial

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
        ended = float(t_end)  # the last frame so far, for what the tracklet teaches
        t_end = ended if final else float("inf")
        vector = self._vector(camera, feature, learn=key not in self.tracks)  # one vehicle counts once
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
        self._learn(camera, float(t_start), ended, vector)
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

    def _vector(self, camera: str, feature: Any, learn: bool) -> np.ndarray | None:
        """The unit vector the linker compares: centred on the camera's mean so far with ``camera_bias``
        (``learn``: the vector counts towards that mean first)."""
        if feature is None:
            return None
        vector = _unit(feature)
        if not np.isfinite(vector).all():
            from reid.errors import WeightsError

            raise WeightsError(f"a tracklet vector of camera {camera} has non-finite values (NaN or inf)",
                               "the re-ID network is damaged: check --reid-weights (or the gallery's vectors)")
        if not self.cfg.camera_bias:
            return vector
        if self.centring is None:
            self.centring = CameraCentring(vector.size)
        elif vector.size != self.centring.dim:
            return vector  # another embedding size: it can never be compared anyway
        if learn:
            self.centring.update(vector[None], [camera])
        return self.centring.transform(vector[None], [camera])[0]

    def _learn(self, camera: str, t_start: float, t_end: float, vector: np.ndarray | None) -> None:
        """What the new tracklet teaches before it is assigned: the threshold, and the travel windows."""
        serial = self._next_serial()
        if vector is None:
            if self.travel is not None:
                self.travel.add(serial, camera, t_start, t_end, [], [], self.threshold)
            return
        obs = self.memory.observe(camera, t_start, t_end, vector, serial)
        if self.calibration is not None:
            self.calibration.add(obs)
        if self.travel is not None:
            self.travel.add(serial, camera, t_start, t_end, obs.matches, obs.undone, self.threshold)

    def report(self) -> LinkReport:
        """How this linker links now: its threshold (and where it came from), camera centring, travel windows."""
        if self.calibration is not None:
            calibration = self.calibration.current
        else:
            calibration = SelfCalibration(self.threshold, "config", self.cfg.false_match_rate, tracklets=self.assigned)
        if self.windows is not None:
            return LinkReport(calibration, self.cfg.camera_bias, "topology", self.windows)
        model = self.travel.model if self.travel is not None else None
        rounds = self.travel.learned if self.travel is not None else 0
        return LinkReport(calibration, self.cfg.camera_bias, "learned" if model is not None else "none", model, rounds)

    @property
    def prior(self) -> TimePrior | None:
        """The time prior joins are weighed with: the topology's windows, or those learned so far (or none)."""
        if self.windows is not None:
            t = self.cfg.travel
            return TimePrior(self.windows, t.bonus, t.penalty)
        return self.travel.prior if self.travel is not None else None

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
        """The identity the new sighting joins and its appearance similarity, or (None, None)."""
        if vector is None or not len(self.table):
            return None, None
        threshold, prior = self.threshold, self.prior
        floor = threshold - (prior.bonus if prior is not None else 0.0)
        scored = []
        for gid, similarity in self.table.above(vector, floor):  # usually a handful
            route = [*self.identities[gid].recent, new]
            value = similarity + route_prior(prior, route, range(len(route) - 1), [len(route) - 1])
            if value >= threshold:
                scored.append((value, similarity, gid, route))
        scored.sort(key=lambda item: -item[0])
        for _, similarity, gid, route in scored:
            if Constraints(route, self.windows, self.cfg).compatible(range(len(route) - 1), [len(route) - 1]):
                return gid, similarity
        return None, None

    def _add(self, gid: int, ident: _Identity, vector: np.ndarray, old: np.ndarray | None) -> None:
        if ident.sum.size == 0:
            ident.sum = np.zeros_like(vector)
        if old is not None:
            ident.sum -= old
        else:
            ident.count += 1
        ident.sum += vector
        self.table.put(gid, ident.sum, ident.count)

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
    """Prototypes of the live identities (the mean of their members' unit vectors), one row of a preallocated
    matrix each.

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

    def put(self, gid: int, vector_sum: np.ndarray, count: int) -> None:
        """Set identity ``gid``'s prototype to ``vector_sum / count``, the mean of its ``count`` members' unit
        vectors (added if new)."""
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
        self.matrix[row] = v / max(int(count), 1)

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
        """The identities whose average similarity to ``vector`` (a unit vector) is ``threshold`` or more, best
        first."""
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
