"""Travel times between cameras: windows from a hand-written topology or learned from the footage.

A *window* says how many seconds a vehicle takes from leaving one camera's view to entering another's
(``cameras.yaml`` links: ``min_travel``, ``max_travel``). Both uses of windows go through :class:`TravelModel`:

* a hand-written topology is a hard constraint (a route step outside its window is impossible);
* windows learned from confident matches are a soft prior: a route step inside the window adds ``bonus`` to
  the merge score, one outside subtracts ``penalty`` (see :mod:`reid.gallery.linker`).

Tracklets are trimmed views of a pass (detection starts a little after a vehicle enters and stops a little
before it leaves), so the gap between two tracklets is the travel time plus the trimming: the upper end of a
window gets ``slack`` seconds per link. A camera in between may miss a vehicle; a step between two cameras
that are not linked is then checked against the route through the cameras between them (up to ``skip``
unseen cameras), whose window adds the time to cross each one (``dwell``, learned from tracklet durations).

Learning (:func:`learn_windows`) needs no labels. For each camera pair it takes the time gaps of confident
matches (mutual nearest neighbours above the threshold, or the consecutive steps of linked identities) and
fits a mixture: a uniform window of true matches plus false matches, which fall like the gaps of random pairs
of those two cameras (the *background*, measured from all pairs). The maximum-likelihood window is kept when
it explains the gaps better than the background alone by ``min_gain`` nats and holds ``min_matches`` or more
matches; each end is widened so that it holds the true end with 95 % confidence (the extremes of ``n`` samples
fall inside the window they are drawn from). A lone vehicle much slower or faster than the rest is left to
chance, and the soft prior (not a hard constraint) still lets a strong appearance match link it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np


def step_gap(first_end: float, second_start: float) -> float:
    """Seconds from the end of the earlier tracklet to the start of the later one (negative: they overlap)."""
    return float(second_start) - float(first_end)


def pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


Node = tuple[str, int]  # (camera, flow)


@dataclass
class TravelWindow:
    """A window between cameras ``a`` and ``b`` (``a == b``: back in the same camera), in seconds.

    ``matches`` is the (expected) number of true matches it was learned from out of ``samples`` gaps; both
    are 0 for a window from a hand-written topology.
    """

    a: str
    b: str
    lo: float
    hi: float
    matches: float = 0.0
    samples: int = 0
    gain: float = 0.0
    flows: tuple[int, int] | None = None  # a window between flows: from flow [0] of a (earlier) to [1] of b

    def as_dict(self) -> dict:
        return {k: (round(float(v), 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class TravelModel:
    """Windows between cameras, with the route rules of the module docstring.

    ``windows`` maps :func:`pair_key` pairs to :class:`TravelWindow`; ``flow_windows`` maps (earlier, later)
    pairs of flows ``(camera, flow)`` (:mod:`reid.gallery.flows`) to the windows between them, learned only;
    ``dwell`` is the time a vehicle takes to cross each camera (for routes through unseen cameras).
    """

    windows: dict[tuple[str, str], TravelWindow] = field(default_factory=dict)
    flow_windows: dict[tuple[Node, Node], TravelWindow] = field(default_factory=dict)
    dwell: dict[str, float] = field(default_factory=dict)
    slack: float = 2.0
    skip: int = 1
    _routes: dict[tuple[str, str], tuple[float, float] | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_topology(cls, topology, cameras: Iterable[str], dwell: dict[str, float], slack: float,
                      skip: int) -> TravelModel:
        """The windows of a hand-written topology (``reid.cameras.CamerasConfig`` or any ``Topology``) between
        ``cameras`` and the cameras the topology names (a route may pass through a camera with no sightings)."""
        model = cls(dwell=dict(dwell), slack=slack, skip=skip)
        names = set(cameras) | set(getattr(topology, "cameras", None) or ())
        for link in getattr(topology, "links", None) or ():
            names |= {link.a, link.b} if hasattr(link, "a") else set(link)
        for a, b in itertools.combinations(sorted(names), 2):
            if not topology.connected(a, b):
                continue
            window = topology.travel_window(a, b) or (0.0, float("inf"))
            model.windows[pair_key(a, b)] = TravelWindow(a, b, float(window[0]), float(window[1]))
        return model

    def links(self) -> list[TravelWindow]:
        """Windows between two different cameras, sorted by camera names."""
        return [w for k, w in sorted(self.windows.items()) if k[0] != k[1]]

    def window(self, a: str, b: str) -> tuple[float, float] | None:
        """(lo, hi) seconds for a step from camera ``a`` to ``b`` with slack, through up to ``skip`` unseen
        cameras when the two are not linked directly; None when no route joins them."""
        key = pair_key(a, b)
        if key not in self._routes:
            self._routes[key] = self._route(*key)
        return self._routes[key]

    def _route(self, a: str, b: str) -> tuple[float, float] | None:
        direct = self.windows.get((a, b))
        if direct is not None:
            return direct.lo, direct.hi + self.slack
        if a == b:
            return None
        best: tuple[float, float] | None = None
        graph: dict[str, list[str]] = {}
        for x, y in self.windows:
            if x != y:
                graph.setdefault(x, []).append(y)
                graph.setdefault(y, []).append(x)
        # simple paths a -> ... -> b through at most `skip` cameras in between
        stack: list[list[str]] = [[a]]
        while stack:
            path = stack.pop()
            for nxt in graph.get(path[-1], []):
                if nxt in path:
                    continue
                if nxt == b and len(path) >= 2:
                    full = path + [b]
                    steps = [self.windows[pair_key(p, q)] for p, q in zip(full, full[1:], strict=False)]
                    lo = sum(w.lo for w in steps)
                    hi = sum(w.hi for w in steps) + sum(self.dwell.get(c, 0.0) for c in path[1:])
                    hi += self.slack * len(steps)
                    best = (lo, hi) if best is None else (min(best[0], lo), max(best[1], hi))
                elif nxt != b and len(path) <= self.skip:
                    stack.append(path + [nxt])
        return best

    def step_allowed(self, cam_a: str, cam_b: str, gap: float) -> bool | None:
        """Whether a step of ``gap`` seconds from ``cam_a`` to ``cam_b`` fits (None: the model says nothing)."""
        window = self.window(cam_a, cam_b)
        if window is None:
            return None
        return window[0] - 1e-6 <= max(0.0, gap) <= window[1] + 1e-6

    def flow_step(self, a: Node, b: Node, gap: float) -> bool | None:
        """Whether a step from flow ``a`` to flow ``b`` (a earlier) of two cameras fits. False also when the
        footage showed flow ``a`` going to another flow of ``b``'s camera, or ``b`` coming from another flow of
        ``a``'s camera, but never these two; None when it says nothing about either."""
        window = self.flow_windows.get((a, b))
        if window is not None:
            return window.lo - 1e-6 <= max(0.0, gap) <= window.hi + self.slack + 1e-6
        for x, y in self.flow_windows:
            if (x == a and y[0] == b[0]) or (y == b and x[0] == a[0]):
                return False
        return None

    def as_dict(self) -> dict:
        return {"links": [w.as_dict() for w in self.links()],
                "flows": [w.as_dict() for _, w in sorted(self.flow_windows.items())],
                "same_camera": [w.as_dict() for k, w in sorted(self.windows.items()) if k[0] == k[1]],
                "dwell": {k: round(float(v), 3) for k, v in sorted(self.dwell.items())},
                "slack": self.slack, "skip": self.skip}

    def cameras_document(self, cameras: dict[str, dict]) -> dict:
        """A ``cameras.yaml`` document (``kind: cameras``) with these windows as links, for ``cameras``
        (name -> ``{"fps": ..., "start_time": ...}``). Windows to cameras not listed are left out."""
        links = []
        for w in self.links():
            if w.a in cameras and w.b in cameras:
                links.append({"a": w.a, "b": w.b, "min_travel": round(float(max(0.0, w.lo)), 3),
                              "max_travel": round(float(max(w.hi, w.lo, 0.0)), 3)})
        cams = {name: {"fps": float(info.get("fps") or 10.0), "start_time": float(info.get("start_time", 0.0))}
                for name, info in sorted(cameras.items())}
        return {"kind": "cameras", "cameras": cams, "links": links}


# ------------------------------------------------------------------------------------------ learning


def dwell_times(cameras: Sequence[str], durations: Sequence[float], q: float = 0.9) -> dict[str, float]:
    """Per camera, the ``q`` quantile of tracklet durations: about how long a vehicle takes to cross it."""
    cams = np.asarray(cameras)
    dur = np.asarray(durations, np.float64)
    return {str(c): float(np.quantile(dur[cams == c], q)) for c in np.unique(cams)}


@dataclass
class WindowFit:
    lo: float
    hi: float
    share: float
    gain: float
    samples: int

    @property
    def matches(self) -> float:
        return self.share * self.samples


MAX_BINS = 1_000_000  # a background histogram wider than this is kept only around the gaps it is asked about


def _background_density(background: np.ndarray, bin_width: float, near: np.ndarray | None = None):
    """A histogram density of the background gaps, floored so that no gap has zero density.

    Gaps can span days (a gallery that holds old footage); then only the bins around ``near`` (the gaps the
    density will be asked about) are counted, with the normalisation of the whole span."""
    bg = np.asarray(background, np.float64)
    lo, hi = float(bg.min()) - bin_width, float(bg.max()) + bin_width
    bins = int((hi - lo) // bin_width) + 1
    if bins > MAX_BINS and near is not None and len(near):
        first = lo + bin_width * max(0.0, np.floor((float(np.min(near)) - lo) / bin_width) - 2)
        last = min(hi, float(np.max(near)) + 3 * bin_width)
        edges = np.arange(first, last + bin_width, bin_width)
        counts, edges = np.histogram(bg[(bg >= edges[0]) & (bg <= edges[-1])], edges)
        total, n_bins = float(len(bg)), bins
    else:
        edges = np.arange(lo, hi + bin_width, bin_width)
        counts, edges = np.histogram(bg, edges)
        total, n_bins = None, None
    smooth = np.convolve(counts.astype(np.float64), np.ones(3) / 3.0, mode="same")
    total = smooth.sum() if total is None else total
    n_bins = len(counts) if n_bins is None else n_bins
    density = (smooth + 0.5 / n_bins) / ((total + 0.5) * bin_width)
    floor = 0.5 / ((total + 0.5) * bin_width * n_bins)

    def at(g: np.ndarray) -> np.ndarray:
        k = np.floor((np.asarray(g) - edges[0]) / bin_width).astype(np.int64)
        inside = (k >= 0) & (k < len(density))
        return np.where(inside, density[np.clip(k, 0, len(density) - 1)], floor)

    return at


def fit_window(samples: Sequence[float], background: Sequence[float], min_matches: int = 3,
               min_width: float = 1.0, bin_width: float = 1.0, min_gain: float = 3.0,
               candidates: int = 48, start: float | None = None) -> WindowFit | None:
    """The maximum-likelihood uniform window of ``samples`` (gaps of confident matches) against the
    ``background`` gaps of random pairs (see the module docstring); None when no window is convincing.
    ``start`` fixes the lower end (same-camera windows start at 0: pieces of one pass)."""
    g = np.sort(np.asarray(samples, np.float64))
    g = g[np.isfinite(g)]
    bg = np.asarray(background, np.float64)
    if len(g) < min_matches or not np.isfinite(bg).any():
        return None
    b = _background_density(bg[np.isfinite(bg)], bin_width, g)(g)
    base = float(np.log(b).sum())
    ends = np.unique(np.quantile(g, np.linspace(0, 1, min(candidates, len(g)))))
    starts = ends if start is None else np.array([start])
    best: WindowFit | None = None
    for i, lo in enumerate(starts):
        for hi in (ends[i:] if start is None else ends[ends >= start]):
            width = max(hi - lo, min_width)
            mid = 0.5 * (lo + hi)
            a, z = (mid - width / 2, mid + width / 2) if start is None else (lo, lo + width)
            inside = (g >= a - 1e-9) & (g <= z + 1e-9)
            if inside.sum() < min_matches:
                continue
            u = inside / width
            share = max(float(inside.mean()), 1e-3)
            for _ in range(30):  # EM for the share of true matches
                resp = share * u / (share * u + (1 - share) * b)
                new = float(resp.mean())
                if abs(new - share) < 1e-6:
                    break
                share = new
            gain = float(np.log(share * u + (1 - share) * b).sum()) - base
            if share * len(g) >= min_matches and (best is None or gain > best.gain):
                best = WindowFit(a, z, share, gain, len(g))
    if best is None or best.gain < min_gain:
        return None
    # the extremes of n uniform samples fall inside the true window: the smallest or largest of n lies more
    # than x inside with probability (1 - x / width) ** n, so pad each end by the x that leaves 5 %
    pad = (best.hi - best.lo) * (1.0 - 0.05 ** (1.0 / max(best.matches, 1.0)))
    best.lo, best.hi = (best.lo - pad if start is None else best.lo), best.hi + pad
    return best


@dataclass
class LearnSettings:
    """Knobs of :func:`learn_windows` (``LinkConfig.travel`` holds the user-facing ones)."""

    min_matches: int = 3
    min_gain: float = 3.0
    bin_width: float = 1.0
    background_pairs: int = 200_000
    seed: int = 0


def background_gaps(starts: np.ndarray, ends: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    limit: int, rng: np.random.Generator, same_camera: bool, directed: bool = False) -> np.ndarray:
    """Gaps of random pairs between tracklets ``rows`` and ``cols`` (all pairs when there are few);
    ``directed``: only pairs where the ``rows`` tracklet starts first."""
    if same_camera:
        pa, pb = np.triu_indices(len(rows), 1)
        pa, pb = rows[pa], rows[pb]
    else:
        pa, pb = np.meshgrid(rows, cols, indexing="ij")
        pa, pb = pa.reshape(-1), pb.reshape(-1)
    if len(pa) > limit:
        pick = rng.choice(len(pa), limit, replace=False)
        pa, pb = pa[pick], pb[pick]
    first = starts[pa] <= starts[pb]
    if directed:
        pa, pb, first = pa[first], pb[first], first[first]
    gaps = np.where(first, starts[pb] - ends[pa], starts[pa] - ends[pb])
    if same_camera:
        gaps = gaps[gaps >= 0]  # overlapping pairs of one camera are never one vehicle
    return gaps


def learn_windows(cameras: Sequence[str], starts: Sequence[float], ends: Sequence[float],
                  matches: Sequence[tuple[int, int]], settings: LearnSettings | None = None,
                  slack: float = 2.0, skip: int = 1, flows: Sequence[int | None] | None = None,
                  given: TravelModel | None = None) -> TravelModel:
    """Learn a :class:`TravelModel` from index pairs ``matches`` believed to be one vehicle (any order): windows
    between cameras and, where ``flows`` says which flow each tracklet belongs to, between flows. With ``given``
    (a hand-written topology) its windows between cameras are kept and only those between flows are learned."""
    s = settings or LearnSettings()
    cams = np.asarray(cameras)
    t0 = np.asarray(starts, np.float64)
    t1 = np.asarray(ends, np.float64)
    if given is not None:
        model = TravelModel(windows=dict(given.windows), dwell=dict(given.dwell), slack=given.slack, skip=given.skip)
    else:
        model = TravelModel(dwell=dwell_times(cams, t1 - t0), slack=slack, skip=skip)
    by_pair: dict[tuple[str, str], list[float]] = {}
    by_flows: dict[tuple[Node, Node], list[float]] = {}
    for i, j in matches:
        i, j = (i, j) if t0[i] <= t0[j] else (j, i)
        gap = step_gap(t1[i], t0[j])
        by_pair.setdefault(pair_key(str(cams[i]), str(cams[j])), []).append(gap)
        if flows is not None and cams[i] != cams[j] and flows[i] is not None and flows[j] is not None:
            by_flows.setdefault(((str(cams[i]), int(flows[i])), (str(cams[j]), int(flows[j]))), []).append(gap)
    rng = np.random.default_rng(s.seed)
    for key in sorted(by_pair) if given is None else ():
        rows, cols = np.flatnonzero(cams == key[0]), np.flatnonzero(cams == key[1])
        bg = background_gaps(t0, t1, rows, cols, s.background_pairs, rng, key[0] == key[1])
        window = _learned(key[0], key[1], by_pair[key], bg, s, start=0.0 if key[0] == key[1] else None)
        if window is not None:
            model.windows[key] = window
    labels = np.asarray([-1 if f is None else f for f in flows], np.int64) if flows is not None else None
    for (a, b) in sorted(by_flows):
        if labels is None or pair_key(a[0], b[0]) not in model.windows:
            continue  # flows refine a camera pair's window; they do not stand without one
        rows = np.flatnonzero((cams == a[0]) & (labels == a[1]))
        cols = np.flatnonzero((cams == b[0]) & (labels == b[1]))
        bg = background_gaps(t0, t1, rows, cols, s.background_pairs, rng, False, directed=True)
        window = _learned(a[0], b[0], by_flows[(a, b)], bg, s, flows=(a[1], b[1]))
        if window is not None:
            model.flow_windows[(a, b)] = window
    return model


def _learned(a: str, b: str, samples: list[float], background: np.ndarray, s: LearnSettings,
             start: float | None = None, flows: tuple[int, int] | None = None) -> TravelWindow | None:
    if not len(background):
        return None
    fit = fit_window(samples, background, s.min_matches, bin_width=s.bin_width, min_gain=s.min_gain, start=start)
    if fit is None:
        return None
    lo = max(0.0, fit.lo)
    return TravelWindow(a, b, float(lo), float(max(fit.hi, lo)), round(float(fit.matches), 2), len(samples),
                        round(float(fit.gain), 2), flows)


def mutual_neighbours(features: np.ndarray, cameras: Sequence[str], starts: Sequence[float],
                      ends: Sequence[float], threshold: float, block: int = 2048) -> list[tuple[int, int]]:
    """Confident matches: for every pair of cameras (and every camera with itself), the tracklet pairs that
    are each other's most similar tracklet in the other camera, at ``threshold`` or above. Same-camera
    pairs that overlap in time are left out (never one vehicle)."""
    cams = np.asarray(cameras)
    t0 = np.asarray(starts, np.float64)
    t1 = np.asarray(ends, np.float64)
    names = sorted({str(c) for c in cams})
    out: list[tuple[int, int]] = []
    for a, b in itertools.combinations_with_replacement(names, 2):
        ia, ib = np.flatnonzero(cams == a), np.flatnonzero(cams == b)
        if not len(ia) or not len(ib):
            continue
        best_b = np.empty(len(ia), np.int64)
        best_ab = np.empty(len(ia), np.float32)
        best_a = np.full(len(ib), -1, np.int64)
        best_ba = np.full(len(ib), -np.inf, np.float32)
        for s in range(0, len(ia), block):
            rows = ia[s:s + block]
            sims = features[rows] @ features[ib].T
            if a == b:  # a tracklet is not its own match, nor one it overlaps
                overlap = (np.maximum(t0[rows][:, None], t0[ib][None]) < np.minimum(t1[rows][:, None], t1[ib][None]))
                sims = np.where(overlap | (rows[:, None] == ib[None]), -np.inf, sims)
            best_b[s:s + block] = sims.argmax(axis=1)
            best_ab[s:s + block] = sims.max(axis=1)
            col_best = sims.max(axis=0)
            better = col_best > best_ba
            best_ba[better] = col_best[better]
            best_a[better] = (s + sims.argmax(axis=0))[better]
        for r, c in enumerate(best_b):
            if best_a[c] == r and best_ab[r] >= threshold and (a != b or ia[r] < ib[c]):
                out.append((int(ia[r]), int(ib[c])))
    return out


@dataclass
class TimePrior:
    """The soft time prior of linking: ``bonus`` for a route step inside its window, ``-penalty`` outside it,
    0 where the model knows no window for the two cameras. Where both sightings have a flow and flows of their
    cameras were learned, the flows' window decides (a pair of flows never seen connected costs the penalty).
    Scores are in cosine-similarity units."""

    model: TravelModel
    bonus: float
    penalty: float

    def step(self, cam_a: str, cam_b: str, gap: float, flow_a: int | None = None,
             flow_b: int | None = None) -> float:
        """The term of a step from a sighting in ``cam_a`` (flow ``flow_a``) to a later one in ``cam_b``."""
        if cam_a != cam_b and flow_a is not None and flow_b is not None:
            fits = self.model.flow_step((cam_a, flow_a), (cam_b, flow_b), gap)
            if fits is not None:
                return self.bonus if fits else -self.penalty
        if cam_a == cam_b:
            # back in the same camera: pieces of one pass are a few seconds apart; a vehicle coming back
            # later is a revisit, which costs the penalty unless the footage showed revisits of that length
            window = self.model.windows.get((cam_a, cam_a))
            reach = (window.hi if window is not None else 0.0) + self.model.slack
            return 0.0 if gap <= reach else -self.penalty
        allowed = self.model.step_allowed(cam_a, cam_b, gap)
        if allowed is None:
            return 0.0
        return self.bonus if allowed else -self.penalty


def write_cameras_yaml(path, model: TravelModel, cameras: dict[str, dict]) -> None:
    """Write ``model``'s windows as a ``cameras.yaml`` (``kind: cameras``, checked against its schema) atomically,
    with a header saying where the windows came from, so a user can check them and reuse the file with
    ``--cameras-yaml`` (where they become hard constraints)."""
    import yaml

    from reid.cameras import CamerasConfig
    from reid.io import atomic_write_text

    doc = model.cameras_document(cameras)
    CamerasConfig.model_validate({k: v for k, v in doc.items() if k != "kind"})
    header = ("# Travel windows learned from this run's footage by reid track (confident cross-camera matches).\n"
              "# Check them before reuse: with --cameras-yaml they become hard constraints.\n")
    notes = "".join(f"#   {w.a}-{w.b}: {w.matches:g} matches of {w.samples} gaps\n" for w in model.links())
    atomic_write_text(path, header + notes + yaml.safe_dump(doc, sort_keys=False))
