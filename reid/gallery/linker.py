"""Cross-camera linking: tracklet vectors -> global identities, under the constraints of time and space.

Two hard constraints come from the world, not from appearance:

* one camera sees one vehicle once at a time, so two tracklets of one camera that overlap in time are never
  the same identity;
* when ``cameras.yaml`` gives a topology (links between cameras with a minimum and maximum travel time), a
  vehicle's sightings ordered in time must form a feasible route: each step between two cameras must follow a
  link (or a route through at most ``travel.skip`` cameras that missed the vehicle) and take a travel time
  inside its window, widened by ``travel.slack`` for the trimming of tracklets (:mod:`reid.gallery.travel`).

:func:`link` prepares the vectors and the threshold, then links: vectors are centred per camera
(``camera_bias``, :mod:`reid.gallery.camera_bias`); the threshold, unless given, is calibrated on the
footage's own surely-different pairs (:mod:`reid.gallery.selfcal`); without a topology, travel windows are
learned from confident matches and linking is repeated with them as a soft time prior (``travel.rounds``).
What it chose comes back in :class:`LinkReport`.

Batch mode is constrained agglomerative clustering with average linkage. With cosine similarity on unit
vectors, the average similarity between the members of two groups equals the dot product of their vector sums
divided by the product of their sizes, so each merge score is exact and costs one dot product; the time prior
adds the mean of its terms over the route steps the merge creates. Candidate merges come from a
k-nearest-neighbour graph, which keeps 10k tracklets fast. Identities already in the gallery enter as fixed
seeds: new tracklets may join them, but two seeds never merge, so stored ids never change.

Online mode answers as a live run would (:func:`link_online`): the tracklets are replayed, in the order they
ended, through the live linker, which attaches each to the identity whose prototype is the most similar above
the threshold and compatible with the constraints, else opens a new identity, learning as it goes.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from reid.errors import ConfigError, InputError
from reid.gallery.camera_bias import normalise, remove_camera_bias
from reid.gallery.config import LinkConfig
from reid.gallery.flows import assign_flows
from reid.gallery.selfcal import SelfCalibration, calibrate_threshold, different_pairs, pair_histogram
from reid.gallery.travel import (
    LearnSettings,
    TimePrior,
    TravelModel,
    dwell_times,
    learn_windows,
    mutual_neighbours,
)


class Topology(Protocol):
    """What the linker needs of a camera topology (``reid.cameras.CamerasConfig`` provides it)."""

    def connected(self, a: str, b: str) -> bool: ...

    def travel_window(self, a: str, b: str) -> tuple[float, float] | None: ...


@dataclass
class Sighting:
    """One tracklet as the linker sees it. Times are absolute seconds, comparable across cameras.

    ``identity`` is set for tracklets already in the gallery (fixed seeds); ``key`` identifies the tracklet to
    the caller (e.g. ``(camera, track_id)``); ``motion`` (:func:`reid.gallery.flows.track_motions`) lets
    linking learn windows between flows of traffic rather than whole cameras.
    """

    camera: str
    t_start: float
    t_end: float
    feature: np.ndarray | None
    key: object = None
    identity: int | None = None
    num_boxes: int = 1
    motion: tuple[float, float, float] | None = None  # which way it moved (reid.gallery.flows), when known


@dataclass
class LinkReport:
    """How linking was done: the threshold and where it came from, whether camera bias was removed, and the
    travel windows (``travel_source``: ``topology`` = hard, from cameras.yaml; ``learned`` = soft prior;
    ``none``)."""

    calibration: SelfCalibration
    camera_bias: bool
    travel_source: str
    travel: TravelModel | None = None
    rounds: int = 0

    def as_dict(self) -> dict:
        return {"threshold": self.calibration.as_dict(), "camera_bias": self.camera_bias,
                "travel": {"source": self.travel_source, "rounds": self.rounds,
                           **(self.travel.as_dict() if self.travel is not None else {})}}


@dataclass
class LinkResult:
    """``identities[i]`` is the global id of ``sightings[i]``; ``new_identities`` the ids this linking created."""

    identities: list[int]
    new_identities: list[int] = field(default_factory=list)
    merges: int = 0
    blocked: int = 0
    report: LinkReport | None = None


def topology_active(topology: Topology | None) -> bool:
    """A topology constrains linking only when it defines links (no links in cameras.yaml = no topology)."""
    if topology is None:
        return False
    links = getattr(topology, "links", None)
    return links is None or len(links) > 0


class Constraints:
    """The hard constraints between groups of sightings; ``windows`` is the hand-written topology, if any."""

    def __init__(self, sightings: Sequence[Sighting], windows: TravelModel | None, cfg: LinkConfig) -> None:
        self.s = sightings
        self.windows = windows
        self.tolerance = cfg.overlap_tolerance
        self.min_revisit = cfg.min_revisit

    def overlap(self, i: int, j: int) -> bool:
        """Same camera and overlapping in time (beyond the tolerance), or back sooner than ``min_revisit``."""
        a, b = self.s[i], self.s[j]
        if a.camera != b.camera:
            return False
        gap = max(a.t_start, b.t_start) - min(a.t_end, b.t_end)  # > 0: disjoint, < 0: overlapping
        if gap < -self.tolerance:
            return True
        return self.min_revisit > 0 and gap < self.min_revisit

    def step_ok(self, i: int, j: int) -> bool:
        """Whether a vehicle seen in ``i`` can next be seen in ``j`` (``i`` starts no later than ``j``)."""
        a, b = self.s[i], self.s[j]
        if a.camera == b.camera or self.windows is None:
            return True
        return bool(self.windows.step_allowed(a.camera, b.camera, b.t_start - a.t_end))

    def compatible(self, members_a: Sequence[int], members_b: Sequence[int]) -> bool:
        """Whether groups ``a`` and ``b`` can be one vehicle."""
        for i in members_a:
            for j in members_b:
                if self.overlap(i, j):
                    return False
        if self.windows is None:
            return True
        # only the steps the merge creates are checked: each group was feasible (or accepted) on its own
        return all(self.step_ok(p, q) for p, q in _new_steps(self.s, members_a, members_b))


def _order_key(s: Sighting) -> tuple:
    return (s.t_start, s.camera, str(s.key))


def _new_steps(sightings: Sequence[Sighting], members_a: Sequence[int],
               members_b: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive sightings of the merged route (in time order) that come from different groups."""
    side = {i: 0 for i in members_a}
    side.update({j: 1 for j in members_b})
    route = sorted(side, key=lambda k: (sightings[k].t_start, sightings[k].t_end))
    return [(p, q) for p, q in zip(route, route[1:], strict=False) if side[p] != side[q]]


def route_prior(prior: TimePrior | None, sightings: Sequence[Sighting], members_a: Sequence[int],
                members_b: Sequence[int], flows: Sequence[int | None] | None = None) -> float:
    """The time prior of merging two groups: the mean of its terms over the route steps the merge creates
    (``flows[i]``: the flow of sighting ``i``, or None)."""
    if prior is None:
        return 0.0
    steps = _new_steps(sightings, members_a, members_b)
    if not steps:
        return 0.0
    terms = [prior.step(sightings[p].camera, sightings[q].camera, sightings[q].t_start - sightings[p].t_end,
                        flows[p] if flows is not None else None, flows[q] if flows is not None else None)
             for p, q in steps]
    return float(sum(terms) / len(terms))


# ------------------------------------------------------------------------------------------ preparation


@dataclass
class _Pass:
    """Everything one linking pass needs: unit vectors (rows of ``feats`` for the sightings ``with_feature``),
    the threshold, the hard constraints and the soft time prior."""

    sightings: Sequence[Sighting]
    feats: np.ndarray
    with_feature: list[int]
    threshold: float
    cons: Constraints
    cfg: LinkConfig
    prior: TimePrior | None = None
    next_id: int = 1
    progress: object = None
    flows: list[int | None] | None = None  # per sighting

    @property
    def floor(self) -> float:
        """Lowest appearance similarity a merge can have and still reach the threshold with the prior."""
        return self.threshold - (self.prior.bonus if self.prior is not None else 0.0)


def prepare_features(sightings: Sequence[Sighting], cfg: LinkConfig) -> tuple[np.ndarray, list[int]]:
    """Unit vectors of the sightings that have one (camera bias removed when ``cfg.camera_bias``)."""
    with_feature = [i for i, s in enumerate(sightings) if s.feature is not None]
    if not with_feature:
        return np.zeros((0, 0), np.float32), with_feature
    feats = normalise(np.vstack(checked_vectors(sightings, with_feature)))
    if cfg.camera_bias:
        feats = remove_camera_bias(feats, [sightings[i].camera for i in with_feature])
    return feats, with_feature


def checked_vectors(sightings: Sequence[Sighting], with_feature: Sequence[int]) -> list[np.ndarray]:
    """The vectors of ``sightings[i]`` for ``i`` in ``with_feature``, refused with the reason when they differ in
    size or hold NaN or inf (either would make every similarity meaningless, or crash deep inside linking)."""
    rows = [np.asarray(sightings[i].feature, np.float32).reshape(-1) for i in with_feature]
    sizes = sorted({r.size for r in rows})
    if len(sizes) > 1:
        raise InputError(f"tracklet vectors of {len(sizes)} sizes ({', '.join(map(str, sizes[:3]))}) cannot be "
                         "linked together", "they come from different networks: link tracklets of one network")
    bad = [i for i, r in zip(with_feature, rows, strict=True) if not np.isfinite(r).all()]
    if bad:
        s = sightings[bad[0]]
        raise InputError(f"{len(bad)} tracklet vector(s) have non-finite values (NaN or inf), the first of camera "
                         f"{s.camera} at {s.t_start:.1f} s", "the network that made them is damaged, or the gallery "
                         "was changed by hand: embed them again")
    return rows


def self_calibration(sightings: Sequence[Sighting], feats: np.ndarray, with_feature: list[int],
                     matches: Sequence[tuple[int, int]], cfg: LinkConfig) -> SelfCalibration:
    """The threshold of this linking: the configured one, or one calibrated on the footage's surely-different
    pairs and confident cross-camera ``matches`` (positions in ``with_feature``; :mod:`reid.gallery.selfcal`)."""
    if cfg.threshold != "auto":
        return SelfCalibration(float(cfg.threshold), "config", cfg.false_match_rate, tracklets=len(with_feature))
    cams, t0, t1 = _times(sightings, with_feature)
    different = different_pairs(feats, cams, t0, t1, min_overlap=cfg.overlap_tolerance)
    cross = pair_histogram(feats, [(i, j) for i, j in matches if cams[i] != cams[j]])
    return calibrate_threshold(different, cross, cfg.false_match_rate, cfg.calibration_min_pairs,
                               cfg.fallback_threshold, len(with_feature))


def _times(sightings: Sequence[Sighting], rows: Sequence[int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    sub = [sightings[i] for i in rows]
    return ([s.camera for s in sub], np.array([s.t_start for s in sub], np.float64),
            np.array([s.t_end for s in sub], np.float64))


def identity_steps(sightings: Sequence[Sighting], identities: Sequence[int],
                   rows: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive sightings (positions in ``rows``) of each linked identity, in time order."""
    pos = {i: p for p, i in enumerate(rows)}
    by_id: dict[int, list[int]] = {}
    for i in rows:
        by_id.setdefault(int(identities[i]), []).append(i)
    steps = []
    for members in by_id.values():
        members.sort(key=lambda k: (sightings[k].t_start, sightings[k].t_end))
        steps += [(pos[p], pos[q]) for p, q in zip(members, members[1:], strict=False)]
    return steps


# ------------------------------------------------------------------------------------------ entry point


def link(sightings: Sequence[Sighting], cfg: LinkConfig | None = None, topology: Topology | None = None,
         next_id: int = 1, progress=None) -> LinkResult:
    """Assign a global identity to every sighting (batch or online, per ``cfg.mode``).

    Sightings with ``identity`` set keep it; new identities are numbered from ``next_id`` in order of first
    appearance. A sighting without a feature gets an identity of its own. ``result.report`` says which
    threshold, camera-bias removal and travel windows were used.
    """
    cfg = cfg or LinkConfig()
    if cfg.mode == "online":
        return link_online(sightings, cfg, topology, next_id, progress)
    t = cfg.travel
    feats, with_feature = prepare_features(sightings, cfg)
    cams, t0, t1 = _times(sightings, with_feature)
    # confident matches (mutual nearest neighbours): the threshold's upper reference and the first travel windows
    matches = mutual_neighbours(feats, cams, t0, t1, -1.0) if len(with_feature) > 1 else []
    calibration = self_calibration(sightings, feats, with_feature, matches, cfg)
    hard = None
    if cfg.use_topology and topology_active(topology):
        hard = TravelModel.from_topology(topology, {s.camera for s in sightings}, dwell_times(cams, t1 - t0),
                                         t.slack, t.skip)
    one = _Pass(sightings, feats, with_feature, calibration.threshold, Constraints(sightings, hard, cfg), cfg,
                None, next_id, progress)
    if hard is not None:  # the hand-written windows are hard constraints and, inside them, the same prior
        one.prior = TimePrior(hard, t.bonus, t.penalty)
    result = link_batch(one)
    model, rounds = hard, 0
    if t.learn and len(set(cams)) > 1 and len(with_feature) > 2:
        model, rounds, result = _learning_rounds(one, result, matches, hard)
    source = "topology" if hard is not None else ("learned" if rounds else "none")
    result.report = LinkReport(calibration, cfg.camera_bias, source, model, rounds)
    return result


def _learning_rounds(one: _Pass, result: LinkResult, matches: Sequence[tuple[int, int]],
                     hard: TravelModel | None) -> tuple[TravelModel | None, int, LinkResult]:
    """Learn travel windows from confident ``matches``, link again with them as the prior, and repeat from the
    linked identities (``travel.rounds`` times). Within a hand-written topology only the windows between flows
    are learned (the topology's own windows stay the hard constraints)."""
    t, sightings, rows = one.cfg.travel, one.sightings, one.with_feature
    cams, t0, t1 = _times(sightings, rows)
    if t.flows:
        one.flows = assign_flows([s.camera for s in sightings], [s.motion for s in sightings])
    if hard is not None and one.flows is None:
        return hard, 0, result
    row_flows = [one.flows[i] for i in rows] if one.flows is not None else None
    floor = one.threshold + t.margin
    steps = [(i, j) for i, j in matches if float(one.feats[i] @ one.feats[j]) >= floor
             and (hard is None or _feasible(one.cons, rows[i], rows[j]))]
    settings = LearnSettings(min_matches=t.min_matches, min_gain=t.min_gain)
    model, rounds = hard, 0
    for _ in range(t.rounds):
        learned = learn_windows(cams, t0, t1, steps, settings, t.slack, t.skip, row_flows, given=hard)
        if not (learned.flow_windows if hard is not None else learned.windows):
            break
        one.prior = TimePrior(learned, t.bonus, t.penalty)
        result = link_batch(one)
        model, rounds = learned, rounds + 1
        steps = identity_steps(sightings, result.identities, rows)
    return model, rounds, result


def _feasible(cons: Constraints, i: int, j: int) -> bool:
    """Whether sightings ``i`` and ``j`` can be consecutive sightings of one vehicle under the hard constraints."""
    first, second = (i, j) if cons.s[i].t_start <= cons.s[j].t_start else (j, i)
    return not cons.overlap(first, second) and cons.step_ok(first, second)


def _number_new(sightings: Sequence[Sighting], groups: dict[int, list[int]], fixed: dict[int, int],
                next_id: int) -> LinkResult:
    """Give seeds their ids and new groups fresh ids in order of first appearance (stable across reruns)."""
    identities = [0] * len(sightings)
    new_groups = [g for g in groups if g not in fixed]
    new_groups.sort(key=lambda g: min(_order_key(sightings[m]) for m in groups[g]))
    new_ids = []
    for g, members in groups.items():
        if g in fixed:
            for m in members:
                identities[m] = fixed[g]
    for offset, g in enumerate(new_groups):
        gid = next_id + offset
        new_ids.append(gid)
        for m in groups[g]:
            identities[m] = gid
    return LinkResult(identities=identities, new_identities=new_ids)


# ------------------------------------------------------------------------------------------ batch


def link_batch(one: _Pass) -> LinkResult:
    """Constrained average-linkage agglomerative clustering with seeds (see the module docstring)."""
    sightings, cfg, cons = one.sightings, one.cfg, one.cons
    n = len(sightings)
    # initial groups: one per gallery identity (seed), one per new sighting
    groups: dict[int, list[int]] = {}
    fixed: dict[int, int] = {}
    by_identity: dict[int, int] = {}
    for i, s in enumerate(sightings):
        if s.identity is not None:
            g = by_identity.setdefault(int(s.identity), i)
            groups.setdefault(g, []).append(i)
            fixed[g] = int(s.identity)
        else:
            groups[i] = [i]
    group_of = np.empty(n, dtype=np.int64)
    for g, members in groups.items():
        group_of[members] = g

    with_feature, feats = one.with_feature, one.feats
    if len(with_feature) < 2:
        return _number_new(sightings, groups, fixed, one.next_id)
    dense = _rerank_similarity(feats, cfg) if cfg.rerank else None
    pos = {i: p for p, i in enumerate(with_feature)}

    # per-group vector sums (average linkage as dot products of sums)
    dim = feats.shape[1]
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for g, members in groups.items():
        rows = [pos[m] for m in members if m in pos]
        sums[g] = feats[rows].sum(axis=0) if rows else np.zeros(dim, np.float32)
        counts[g] = len(rows)

    def score(a: int, b: int) -> float:
        if counts[a] == 0 or counts[b] == 0:
            return -np.inf
        if dense is not None:
            ra = [pos[m] for m in groups[a] if m in pos]
            rb = [pos[m] for m in groups[b] if m in pos]
            value = float(dense[np.ix_(ra, rb)].mean())
        else:
            value = float(sums[a] @ sums[b]) / (counts[a] * counts[b])
        if one.prior is not None and value >= one.floor:
            value += route_prior(one.prior, sightings, groups[a], groups[b], one.flows)
        return value

    # candidate neighbour graph between groups
    neighbours: dict[int, set[int]] = {g: set() for g in groups}
    for p, q in _candidate_pairs(feats, dense, cfg, one.floor):
        ga, gb = int(group_of[with_feature[p]]), int(group_of[with_feature[q]])
        if ga == gb or (ga in fixed and gb in fixed):
            continue
        neighbours[ga].add(gb)
        neighbours[gb].add(ga)

    version = dict.fromkeys(groups, 0)
    heap: list[tuple[float, int, int, int, int]] = []

    def push(a: int, b: int) -> None:
        value = score(a, b)
        if value >= one.threshold:
            lo, hi = (a, b) if a < b else (b, a)
            heapq.heappush(heap, (-value, lo, hi, version[lo], version[hi]))

    for a, nbrs in neighbours.items():
        for b in nbrs:
            if a < b:
                push(a, b)
    merges = blocked = 0
    total = len(heap)
    progress = one.progress
    while heap:
        _, a, b, va, vb = heapq.heappop(heap)
        if a not in groups or b not in groups or version[a] != va or version[b] != vb:
            continue
        if a in fixed and b in fixed:
            continue
        if not cons.compatible(groups[a], groups[b]):
            blocked += 1
            continue
        keep, gone = (b, a) if b in fixed else (a, b)
        groups[keep].extend(groups.pop(gone))
        sums[keep] = sums[keep] + sums.pop(gone)
        counts[keep] += counts.pop(gone)
        version[keep] += 1
        version.pop(gone)
        merged = (neighbours.pop(gone) | neighbours[keep]) - {keep, gone}
        neighbours[keep] = merged
        for c in merged:
            neighbours[c].discard(gone)
            neighbours[c].add(keep)
            if not (keep in fixed and c in fixed):
                push(keep, c)
        merges += 1
        if progress is not None and merges % 256 == 0:
            progress(merges, None, stage="link")
    result = _number_new(sightings, groups, fixed, one.next_id)
    result.merges, result.blocked = merges, blocked
    if progress is not None:
        progress(total, total, stage="link")
    return result


def _candidate_pairs(feats: np.ndarray, dense: np.ndarray | None, cfg: LinkConfig,
                     floor: float) -> list[tuple[int, int]]:
    """Pairs (p, q), p < q, among each row's ``cfg.knn`` most similar rows whose similarity reaches ``floor``."""
    n = len(feats)
    k = min(n, cfg.knn + 1)
    if dense is not None:
        order = np.argsort(-dense, axis=1)[:, :k]
        sims = np.take_along_axis(dense, order, axis=1)
    else:
        import faiss

        index = faiss.IndexFlatIP(feats.shape[1])
        index.add(np.ascontiguousarray(feats, np.float32))
        sims, order = index.search(np.ascontiguousarray(feats, np.float32), k)
    pairs = set()
    for p in range(n):
        for q, s in zip(order[p], sims[p], strict=True):
            q = int(q)
            if q < 0 or q == p or s < floor:
                continue
            pairs.add((min(p, q), max(p, q)))
    return sorted(pairs)


def _rerank_similarity(feats: np.ndarray, cfg: LinkConfig) -> np.ndarray:
    """k-reciprocal re-ranked similarities (1 - re-ranked distance) of all tracklets with each other, from
    :mod:`reid.evaluation.rerank` (Zhong et al. 2017)."""
    if len(feats) > cfg.rerank_max_tracklets:
        raise ConfigError(
            f"re-ranking {len(feats)} tracklets needs a dense {len(feats)}x{len(feats)} matrix "
            f"(limit rerank_max_tracklets={cfg.rerank_max_tracklets})",
            "set rerank: false or raise rerank_max_tracklets",
        )
    from reid.evaluation.rerank import RerankParams, reranked_similarity

    n = len(feats)
    k1 = max(1, min(cfg.rerank_k1, n - 1))
    params = RerankParams(k1=k1, k2=max(1, min(cfg.rerank_k2, k1 + 1)), lam=cfg.rerank_lambda)
    rows = np.arange(n)
    block = reranked_similarity(feats, rows, rows, params)
    # the final re-ranked distance is (1 - lambda) * Jaccard + lambda * (1 - cos); 1 - distance reads like a
    # cosine similarity (1 for identical neighbourhoods), so one threshold scale serves both modes
    return (1.0 + block(rows)).astype(np.float32)


# ------------------------------------------------------------------------------------------ online


def link_online(sightings: Sequence[Sighting], cfg: LinkConfig, topology: Topology | None = None,
                next_id: int = 1, progress=None) -> LinkResult:
    """What a live run would have answered: the sightings replayed through the live linker
    (:class:`reid.live.linker.OnlineLinker`) in the order a live run receives them, by the time each ended.

    The linker learns as it goes, as it does live: the threshold (``auto``) from the pairs seen so far, the
    cameras' mean vectors (``camera_bias``) and the travel windows. Sightings with an identity are its seeds.
    """
    from reid.live.linker import OnlineLinker

    checked_vectors(sightings, [i for i, s in enumerate(sightings) if s.feature is not None])
    linker = OnlineLinker(cfg, topology, next_id=next_id)
    linker.seed_all(s for s in sightings if s.identity is not None)
    order = sorted((i for i, s in enumerate(sightings) if s.identity is None),
                   key=lambda i: (sightings[i].t_end, sightings[i].t_start, sightings[i].camera, str(sightings[i].key)))
    identities: list[int] = [int(s.identity) if s.identity is not None else 0 for s in sightings]
    new_ids: list[int] = []
    for done, i in enumerate(order):
        s = sightings[i]
        answer = linker.assign(s.camera, i, s.t_start, s.t_end, s.feature)
        identities[i] = answer.global_id
        if answer.new:
            new_ids.append(answer.global_id)
        if progress is not None and done % 256 == 0:
            progress(done, len(order), stage="link")
    result = LinkResult(identities=identities, new_identities=new_ids, merges=len(order) - len(new_ids))
    result.report = linker.report()
    return result
