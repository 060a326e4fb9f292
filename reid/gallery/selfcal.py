"""Self-calibration of the linking threshold from the footage itself, without labels.

Two tracklets seen by one camera at the same time are two vehicles: one camera sees one vehicle once at a
time. Their similarities therefore sample the distribution of "different vehicle" similarities *for this
network on these cameras*, with no labels. The other side comes from confident matches: tracklets of two
cameras that are each other's most similar tracklet in the other camera (mutual nearest neighbours) are mostly
one vehicle when the network separates vehicles, and a mixture when it does not.

The threshold is the median similarity of the confident matches, but never below the similarity that only
``false_match_rate`` of the different pairs reach. Measured on synthetic scenes and simulated camera chains
(docs/linking.md), the median of the matches lands where calibrating on the truth does for strong and weak
networks alike (the time prior then admits matches somewhat below it inside their travel windows), while a
fixed false-match rate alone lands right for one kind of network and far too low for the other; the floor
keeps cameras that share no vehicles from linking everything.

The estimators are fixed-bin histograms of similarities (:class:`SimilarityHistogram`), so they can be fed a
few pairs at a time and merged across processes, and their quantiles are exact to the bin width. A live
linker adds the pairs of each new tracklet with the tracklets of its camera that overlapped it in time (still
in its recent memory) to the different pairs, and its best match in each other camera, when that match's own
best is the new tracklet, to the matches; it reads the threshold again whenever it wants. A batch run feeds
all pairs at once (:func:`overlapping_pairs`, :func:`reid.gallery.travel.mutual_neighbours`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

BINS = 2000  # over [-1, 1]: 0.001 of cosine similarity per bin


@dataclass
class SelfCalibration:
    """The threshold linking used and where it came from.

    ``source`` is ``self`` (from this footage), ``config`` (a threshold given by the user or a link YAML) or
    ``fallback`` (too few different pairs or matches to trust: ``fallback_threshold`` was used). ``pairs`` is
    the number of different pairs, over ``cameras`` cameras, ``floor`` the similarity ``false_match_rate`` of
    them reach; ``matches`` the number of confident matches and ``match_median`` their median similarity.
    """

    threshold: float
    source: str
    false_match_rate: float
    pairs: int = 0
    cameras: int = 0
    tracklets: int = 0
    floor: float | None = None
    matches: int = 0
    match_median: float | None = None

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


class SimilarityHistogram:
    """A streaming histogram of similarities (of surely-different pairs, or of confident matches).

    ``add`` takes any number of similarities (``remove`` takes some back); ``merge`` adds another histogram (e.g. from another camera
    worker); ``quantile`` and ``threshold`` read it. Memory is fixed (``BINS`` counters), whatever the number
    of pairs.
    """

    def __init__(self) -> None:
        self.counts = np.zeros(BINS, np.int64)
        self.cameras: set[str] = set()

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def add(self, similarities: np.ndarray | Sequence[float], camera: str | None = None) -> None:
        sims = np.asarray(similarities, np.float64).reshape(-1)
        sims = np.clip(sims[np.isfinite(sims)], -1.0, 1.0)  # a NaN has no bin (it would index far outside)
        if not sims.size:
            return
        bins = np.minimum(((sims + 1.0) * (BINS / 2)).astype(np.int64), BINS - 1)
        np.add.at(self.counts, bins, 1)
        if camera is not None:
            self.cameras.add(camera)

    def remove(self, similarities: np.ndarray | Sequence[float]) -> None:
        """Take back similarities added before (a live linker's match that no longer holds)."""
        sims = np.asarray(similarities, np.float64).reshape(-1)
        sims = np.clip(sims[np.isfinite(sims)], -1.0, 1.0)
        if sims.size:
            bins = np.minimum(((sims + 1.0) * (BINS / 2)).astype(np.int64), BINS - 1)
            np.subtract.at(self.counts, bins, 1)
            np.maximum(self.counts, 0, out=self.counts)

    def merge(self, other: SimilarityHistogram) -> None:
        self.counts += other.counts
        self.cameras |= other.cameras

    def quantile(self, q: float) -> float:
        """The similarity below which a share ``q`` of the pairs lies (upper bin edge, so never optimistic)."""
        total = self.total
        if total == 0:
            raise ValueError("no pairs")
        cum = np.cumsum(self.counts)
        k = int(np.searchsorted(cum, q * total, side="left"))
        return float(-1.0 + (min(k, BINS - 1) + 1) * (2.0 / BINS))

    def threshold(self, false_match_rate: float) -> float:
        """The similarity that only a share ``false_match_rate`` of the pairs reach."""
        return self.quantile(1.0 - false_match_rate)


def overlapping_pairs(cameras: Sequence[str], starts: np.ndarray, ends: np.ndarray,
                      min_overlap: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j), i < j, of tracklets of one camera that overlap in time by more than ``min_overlap``
    seconds: surely two vehicles. One sort per camera, then a sweep; O(N log N + pairs)."""
    cams = np.asarray(cameras)
    starts = np.asarray(starts, np.float64)
    ends = np.asarray(ends, np.float64)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for cam in np.unique(cams):
        idx = np.flatnonzero(cams == cam)
        idx = idx[np.argsort(starts[idx], kind="stable")]
        for k, i in enumerate(idx[:-1]):
            later = idx[k + 1:]
            # sorted by start: every later tracklet starting before i ends (minus the margin) overlaps it
            stop = int(np.searchsorted(starts[later], ends[i] - min_overlap, side="left"))
            hit = later[:stop]
            hit = hit[np.minimum(ends[i], ends[hit]) - starts[hit] > min_overlap]
            if hit.size:
                rows.append(np.full(hit.size, i))
                cols.append(hit)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = np.concatenate(rows), np.concatenate(cols)
    return np.minimum(a, b), np.maximum(a, b)


def different_pairs(features: np.ndarray, cameras: Sequence[str], starts: np.ndarray, ends: np.ndarray,
                    min_overlap: float = 0.0) -> SimilarityHistogram:
    """The histogram of the similarities of every same-camera, time-overlapping pair (unit ``features``)."""
    hist = SimilarityHistogram()
    a, b = overlapping_pairs(cameras, starts, ends, min_overlap)
    if a.size:
        sims = np.einsum("ij,ij->i", features[a], features[b])
        cams = np.asarray(cameras)
        for cam in np.unique(cams[a]):
            hist.add(sims[cams[a] == cam], camera=str(cam))
    return hist


def pair_histogram(features: np.ndarray, pairs: Sequence[tuple[int, int]]) -> SimilarityHistogram:
    """The histogram of the similarities of index ``pairs`` of unit ``features`` (e.g. confident matches)."""
    hist = SimilarityHistogram()
    if len(pairs):
        idx = np.asarray(pairs, np.int64)
        hist.add(np.einsum("ij,ij->i", features[idx[:, 0]], features[idx[:, 1]]))
    return hist


def calibrate_threshold(different: SimilarityHistogram, matches: SimilarityHistogram, false_match_rate: float,
                        min_pairs: int, fallback: float, tracklets: int = 0) -> SelfCalibration:
    """max(median of the ``matches``, the similarity ``false_match_rate`` of the ``different`` pairs reach), or
    ``fallback`` with fewer than ``min_pairs`` different pairs or confident matches (see the module docstring)."""
    floor = different.threshold(false_match_rate) if different.total else None
    median = matches.quantile(0.5) if matches.total else None
    counts = {"pairs": different.total, "cameras": len(different.cameras), "tracklets": tracklets, "floor": floor,
              "matches": matches.total, "match_median": median}
    if floor is None or median is None or min(different.total, matches.total) < min_pairs:
        return SelfCalibration(float(fallback), "fallback", false_match_rate, **counts)
    return SelfCalibration(max(floor, median), "self", false_match_rate, **counts)
