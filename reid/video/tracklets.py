"""From per-frame tracker output to tracklets: bounded state per live track, one vector per finished track.

While a track is alive it holds counters, its first and last box, a velocity estimate and its best ``K``
crops (:class:`reid.video.crops.BestCrops`) — nothing that grows with its length. A track that has not been
seen for longer than the tracker keeps lost tracks is finished; finished tracks wait in a queue until enough
crops are pending to fill an embedding batch, then all their crops are embedded together and each track gets
one L2-normalised, quality-weighted mean vector. Embedding cost therefore grows with tracks × K, never with
detections × frames.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from reid.types import Tracklet
from reid.video.crops import BestCrops, KeptCrop


class Embedder(Protocol):
    """What tracklet embedding needs (``reid.models.inference.CropEmbedder`` provides it)."""

    dim: int

    def embed(self, crops: list[np.ndarray]) -> np.ndarray: ...


@dataclass
class TrackState:
    """Everything kept about one track (bounded: K crops plus a few numbers)."""

    track_id: int
    first_frame: int
    first_time: float
    first_box: np.ndarray
    crops: BestCrops
    last_frame: int = 0
    last_time: float = 0.0
    last_box: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    last_step: int = 0
    num_boxes: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # px per frame, centre
    size: float = 0.0  # largest sqrt(box area) seen: the vehicle's size even when the last box was cut
    classes: Counter = field(default_factory=Counter)
    continues_other: bool = False  # this track is the rest of an earlier one (it took that one's id)

    def observe(self, frame: int, t: float, box: np.ndarray, cls: int, step: int) -> None:
        if self.num_boxes:
            gap = max(frame - self.last_frame, 1)
            v = (centre(box) - centre(self.last_box)) / gap
            self.velocity = v if self.num_boxes == 1 else 0.7 * self.velocity + 0.3 * v
        self.last_frame, self.last_time, self.last_box, self.last_step = frame, t, box.copy(), step
        self.num_boxes += 1
        self.size = max(self.size, float(np.sqrt(max(box[2] - box[0], 1.0) * max(box[3] - box[1], 1.0))))
        self.classes[int(cls)] += 1


@dataclass
class TrackSummary:
    """A finished track: the public :class:`Tracklet` plus what rejoining needs (boxes, velocity, weight)."""

    tracklet: Tracklet
    first_box: np.ndarray
    last_box: np.ndarray
    velocity: np.ndarray
    weight: float  # sum of the kept crops' qualities (how much to trust its vector when merging)
    size: float = 0.0  # largest sqrt(box area) seen
    entered_at_border: bool = False  # first box touches the frame border: it drove in, was not hidden before
    left_at_border: bool = False  # last box touches the frame border: it drove out, was not hidden after
    crops: list[KeptCrop] = field(default_factory=list, repr=False)  # dropped once embedded


def centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)


class FreshIds:
    """Tracker ids -> ids that are never reused within one camera run.

    A tracker may bring a lost track back a frame after this side declared it ended (the two count "lost"
    frames slightly differently); that comeback must not reuse the id of the tracklet already handed on. A
    tracker id keeps its own value when it is new (``offset`` 0), or becomes ``offset + 1, offset + 2, ...``
    (a live camera that continues an earlier session); a comeback after :meth:`end` gets the next free id.
    """

    def __init__(self, offset: int | None = None) -> None:
        self.offset = offset
        self.current: dict[int, int] = {}  # tracker id -> id, for tracks alive now
        self.largest = offset or 0
        self.used: set[int] = set()

    def remap(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` (tracker rows, id in column 4) with their ids replaced; a copy."""
        rows = rows.copy()
        for i, tid in enumerate(rows[:, 4].astype(np.int64)):
            new = self.current.get(int(tid))
            if new is None:
                keep = self.offset is None and int(tid) not in self.used and int(tid) > 0
                new = int(tid) if keep else self.largest + 1
                self.current[int(tid)] = new
                self.used.add(new)
                self.largest = max(self.largest, new)
            rows[i, 4] = new
        return rows

    def end(self, track_id: int) -> None:
        """Track ``track_id`` ended: a tracker id that comes back for it gets a new id."""
        self.current = {t: i for t, i in self.current.items() if i != track_id}

    def adopt(self, track_id: int, into: int) -> None:
        """The tracker's track now known as ``track_id`` continues ``into`` (an ended track): it takes that id."""
        self.current = {t: (into if i == track_id else i) for t, i in self.current.items() if i != into}


class TrackletAccumulator:
    """Feeds tracker rows in, hands finished :class:`TrackSummary` values out."""

    def __init__(self, camera: str, crops_per_track: int, lost_steps: int, time_offset: float = 0.0,
                 exit_steps: int | None = None) -> None:
        self.camera = camera
        self.k = crops_per_track
        self.lost_steps = lost_steps
        # a track lost at the frame border drove out of view: it may end sooner than one lost inside the view
        # (which may be hidden for a moment); None keeps the tracker's buffer for every track
        self.exit_steps = exit_steps
        self.time_offset = time_offset
        self.live: dict[int, TrackState] = {}
        self.step = 0
        self.frame_size: tuple[int, int] | None = None  # (height, width)

    def update(
        self, frame_index: int, t: float, image: np.ndarray, rows: np.ndarray, boxes: np.ndarray
    ) -> None:
        """One processed frame: ``rows`` from :class:`CameraTracker`, ``boxes`` the (M, 4) boxes to record."""
        self.step += 1
        self.frame_size = (int(image.shape[0]), int(image.shape[1]))
        for row, box in zip(rows, boxes, strict=True):
            tid = int(row[4])
            state = self.live.get(tid)
            if state is None:
                state = self.live[tid] = TrackState(tid, frame_index, t, box.copy(), BestCrops(self.k))
            state.observe(frame_index, t, box, int(row[6]), self.step)
            state.crops.offer(image, box, float(row[5]), frame_index)

    def pop_finished(self, final: bool = False) -> list[TrackSummary]:
        """Tracks unseen for longer than the tracker keeps lost tracks (all of them when ``final``)."""
        done = [tid for tid, s in self.live.items() if final or self._lost(s)]
        return [self._summarise(self.live.pop(tid)) for tid in sorted(done)]

    def _lost(self, s: TrackState) -> bool:
        unseen = self.step - s.last_step
        if unseen > self.lost_steps:
            return True
        return self.exit_steps is not None and unseen > self.exit_steps and (
            self._at_border(s.last_box) or self._driven_out(s, unseen))

    def _driven_out(self, s: TrackState, unseen: int) -> bool:
        """Where the track's last box would be now, at its speed, touches the frame border: it drove out of view
        (a detector often loses a vehicle a little before its box reaches the border)."""
        if self.frame_size is None or not s.velocity.any():
            return False
        shift = np.repeat(s.velocity * max(unseen, 1), 2)
        return self._at_border(s.last_box + shift)

    def continuation(self, ended: TrackSummary, config: Any, limit: float,
                     exclude: set[int] | frozenset[int] = frozenset()) -> int | None:
        """The live track that continues the track that just ended, if one does by time and place
        (:func:`reid.video.rejoin.continues` within ``limit`` vehicle sizes, the closest): a track the tracker
        broke while a vehicle drove into or out of view, or for a frame or two of missed detections. Tracks in
        ``exclude`` (a live camera's tracks that were emitted already, under their own id) are not candidates."""
        from reid.video.rejoin import continues

        best: tuple[float, int] | None = None
        for tid, state in self.live.items():
            if tid in exclude or state.continues_other or state.first_frame <= ended.tracklet.last_frame:
                continue
            distance = continues(ended, self._summarise(state, with_crops=False), config, limit)
            if distance is not None and (best is None or distance < best[0]):
                best = (distance, tid)
        return best[1] if best is not None else None

    def continue_with(self, ended: TrackSummary, track_id: int) -> None:
        """Live track ``track_id`` is the rest of ``ended``: it becomes that track (``ended``'s id, its start,
        boxes and crops), and ``track_id`` is gone."""
        state = self.live.pop(track_id)
        t = ended.tracklet
        state.track_id = t.track_id
        state.first_frame, state.first_time = t.first_frame, t.first_time - self.time_offset
        state.first_box = ended.first_box.copy()
        state.num_boxes += t.num_boxes
        state.size = max(state.size, ended.size)
        state.classes[int(t.cls)] += t.num_boxes
        state.crops.absorb(ended.crops)
        state.continues_other = True
        self.live[t.track_id] = state

    def snapshot(self, track_id: int) -> TrackSummary:
        """A summary of a track that is still alive (its best crops so far, copied), for a periodic emission."""
        return self._summarise(self.live[track_id])

    def _summarise(self, s: TrackState, with_crops: bool = True) -> TrackSummary:
        kept = s.crops.items() if with_crops else []
        tracklet = Tracklet(
            camera=self.camera,
            track_id=s.track_id,
            cls=s.classes.most_common(1)[0][0],
            first_frame=s.first_frame,
            last_frame=s.last_frame,
            first_time=s.first_time + self.time_offset,
            last_time=s.last_time + self.time_offset,
            num_boxes=s.num_boxes,
        )
        weight = float(sum(c.quality for c in kept))
        return TrackSummary(
            tracklet,
            s.first_box,
            s.last_box,
            s.velocity,
            weight,
            s.size,
            entered_at_border=self._at_border(s.first_box),
            left_at_border=self._at_border(s.last_box),
            crops=kept,
        )

    def _at_border(self, box: np.ndarray, margin: float = 3.0) -> bool:
        if self.frame_size is None:
            return False
        h, w = self.frame_size
        return bool(box[0] <= margin or box[1] <= margin or box[2] >= w - margin or box[3] >= h - margin)


def embed_summaries(summaries: list[TrackSummary], embedder: Embedder, batch_size: int = 64) -> None:
    """Give each summary one L2-normalised quality-weighted mean vector; crops are released afterwards."""
    crops = [c for s in summaries for c in s.crops]
    if not crops:
        return
    vectors = []
    for start in range(0, len(crops), batch_size):
        vectors.append(
            np.asarray(embedder.embed([c.image for c in crops[start : start + batch_size]]), np.float32)
        )
    matrix = np.concatenate(vectors, axis=0)
    pos = 0
    for s in summaries:
        n = len(s.crops)
        if n:
            q = np.array([max(c.quality, 1e-6) for c in s.crops], np.float32)
            mean = (matrix[pos : pos + n] * q[:, None]).sum(axis=0)
            s.tracklet.feature = normalise(mean)
            pos += n
        s.crops = []


def normalise(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm).astype(np.float32) if norm > 0 else v.astype(np.float32)


def save_crops(summary: TrackSummary, folder: Path) -> None:
    """Write the kept crops as JPEGs under ``folder`` and record their paths on the tracklet."""
    from reid.io import write_image

    for rank, crop in enumerate(summary.crops):
        path = write_image(folder / f"{crop.frame + 1:06d}_{rank}.jpg", crop.image)
        summary.tracklet.crop_paths.append(str(path))
