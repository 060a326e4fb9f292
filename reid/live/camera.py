"""A live camera worker: read a stream in real time, track, and emit each vehicle as soon as its track ends.

The loop takes the newest frame from the reader thread (:mod:`reid.live.reader`), detects, tracks, keeps each
track's best K crops, and emits :class:`TrackletEvent` values:

- when a track ends: unseen for ``lost_grace`` seconds inside the view, or ``exit_grace`` seconds when its last
  box touched the frame border or its motion carries it there (a vehicle driving out of view), so that its
  global id follows within about a second; a track the tracker finds again later continues as a new tracklet;
  but a track that started meanwhile right where the ended one was heading (the tracker broke a vehicle's
  track as it drove into view, or for a missed frame) is its continuation and takes its id, as rejoining does
  in batch mode;
- every ``emit_every`` seconds while a vehicle stays in view (a long stay), with the best crops so far.

State per track is bounded: K crops, a few numbers, and the boxes seen since its last emission. The tracker's
ids are mapped to local ids that are never reused in this run (a track revived after it was emitted gets a new
one) and that start at ``CameraJob.id_offset``, so a restarted run never collides with an earlier one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reid.engine.messages import (
    CameraFinished,
    CameraJob,
    CameraProgress,
    CameraStatus,
    CameraSummary,
    TrackletEvent,
)
from reid.errors import InputError, ReidError


@dataclass
class _Track:
    """What the worker keeps about one live track besides the accumulator's state."""

    local_id: int
    boxes: list[tuple[float, ...]] = field(default_factory=list)  # since the last emission
    sequence: int = 0  # emissions so far
    last_emit: float | None = None  # stream seconds of the last emission
    seen_wall: float = 0.0  # wall-clock time of the last frame the track was seen in


@dataclass
class _Outgoing:
    """One emission on its way: the summary to embed, and the track's state when it was decided."""

    summary: Any
    seen_wall: float
    sequence: int
    boxes: np.ndarray
    final: bool
    decided: float


class LiveCamera:
    """The tracking state of one live camera; :meth:`process` one frame, :meth:`close` at the end."""

    def __init__(self, job: CameraJob, emit: Any, embedder: Any, detector: Any = None, fps: float = 10.0) -> None:
        from reid.video.config import load_tracker_config
        from reid.video.detectors import build_detector
        from reid.video.tracking import CameraTracker
        from reid.video.tracklets import FreshIds, TrackletAccumulator

        self.job = job
        self.cfg = job.config
        self.live = job.live
        self.emit = emit
        self.embedder = embedder
        self.detector = detector if detector is not None else build_detector(self.cfg)
        self.names = dict(getattr(self.detector, "names", {}) or {})
        self.tracker = CameraTracker(load_tracker_config(self.cfg.tracker), fps)
        exit_steps = max(1, int(round(self.live.exit_grace * fps)))
        lost_steps = min(self.tracker.track_buffer, max(exit_steps, int(round(self.live.lost_grace * fps))))
        self.acc = TrackletAccumulator(job.camera, self.cfg.crops_per_track, lost_steps, exit_steps=exit_steps)
        self.ids = FreshIds(offset=job.id_offset)  # local ids: never reused, after an earlier session's
        self.tracks: dict[int, _Track] = {}  # local id -> its emission state
        self.frames = 0
        self.tracklets = 0
        self._warmup: list[Any] = []  # the first frames, for a detector that learns from a batch
        self.defer_embedding = False  # set by a worker that embeds several cameras' crops in one call
        self.outgoing: list[_Outgoing] = []
        self.last_time: float | None = None

    def process(self, frames: list[Any], detections: list[Any] | None = None) -> None:
        """Track ``frames`` (a batch of consecutive frames); ``detections`` when the caller detected already."""
        from reid.video.pipeline import _matched_boxes

        if detections is None and getattr(self.detector, "model", ()) is None:
            # the motion detector starts its background from the median of its first call's frames: give it a
            # batch (the first second or so of a camera waits for it), not a single frame
            self._warmup.extend(frames)
            if len(self._warmup) < self.cfg.det_batch_size:
                return
            frames, self._warmup = self._warmup, []
        detections = detections if detections is not None else self.detector.detect([f.image for f in frames])
        wall = time.time()
        for frame, dets in zip(frames, detections, strict=True):
            rows = self.tracker.update(dets, frame.image)
            boxes = _matched_boxes(rows, dets)
            rows = self.ids.remap(rows)
            for i, local in enumerate(rows[:, 4].astype(np.int64)):
                local = int(local)
                if local not in self.tracks:
                    self.tracks[local] = _Track(local)
                self.tracks[local].seen_wall = wall
                box = boxes[i]
                self.tracks[local].boxes.append((frame.index + self.job.frame_offset, float(box[0]), float(box[1]),
                                                 float(box[2]), float(box[3]), float(rows[i, 5])))
            self.acc.update(frame.index, frame.time, frame.image, rows, boxes)
            self.frames += 1
            self.last_time = frame.time
            self._emit_finished(final=False)
            self._emit_long_stays(frame.time)

    def close(self) -> None:
        """Emit every track still alive as ended (the stream ended or the run stops)."""
        if self._warmup:
            frames, self._warmup = self._warmup, []
            detections = self.detector.detect([f.image for f in frames])
            self.process(frames, detections)
        self._emit_finished(final=True)

    # -- emissions -----------------------------------------------------------------------------------------

    def _emit_finished(self, final: bool) -> None:
        decided = time.time()  # the track's end: the latency to its global id is counted from here
        summaries = []
        for s in self.acc.pop_finished(final=final):
            if not final and self._continued(s):
                continue
            track = self.tracks.pop(s.tracklet.track_id)
            self.ids.end(track.local_id)
            if s.tracklet.num_boxes < self.cfg.min_boxes and track.sequence == 0:
                continue  # a flicker of the detector, never emitted: dropped
            summaries.append((s, track))
        if summaries:
            if self.cfg.save_crops:
                self._save_crops([s for s, _ in summaries])
            self._send(summaries, final=True, decided=decided)

    def _continued(self, s: Any) -> bool:
        """Whether a track that just ended goes on as a live track that started right where it ended (the
        tracker lost a vehicle that drove into or out of view, or missed it for a frame): that track takes its
        id, boxes and crops, and the two are one tracklet, as rejoining makes them in batch mode. Without
        vectors to compare yet, only a start within half a vehicle's size of where the ended track was heading
        counts."""
        from reid.video.rejoin import BORDER_DISTANCE

        if not self.cfg.rejoin.enabled:
            return False
        emitted = {local for local, track in self.tracks.items() if track.sequence > 0}  # these have an id
        following = self.acc.continuation(s, self.cfg.rejoin, BORDER_DISTANCE, exclude=emitted)
        if following is None:
            return False
        ended, rest = self.tracks.pop(s.tracklet.track_id), self.tracks.pop(following)
        self.acc.continue_with(s, following)
        self.ids.adopt(following, into=ended.local_id)
        ended.boxes.extend(rest.boxes)
        ended.seen_wall = rest.seen_wall
        self.tracks[ended.local_id] = ended
        return True

    def _emit_long_stays(self, now: float) -> None:
        due = []
        for local, track in self.tracks.items():
            state = self.acc.live.get(local)
            if state is None:
                continue
            since = state.first_time if track.last_emit is None else track.last_emit
            if now - since >= self.live.emit_every and track.boxes:  # a lost track has nothing new to say
                due.append((self.acc.snapshot(local), track))
        if due:
            self._send(due, final=False, decided=time.time())

    def _save_crops(self, summaries: list[Any]) -> None:
        from pathlib import Path

        from reid.video.tracklets import save_crops

        root = Path(self.job.out_dir) / "crops" / self.job.camera
        for s in summaries:
            save_crops(s, root / str(s.tracklet.track_id))

    def _send(self, items: list[tuple[Any, _Track]], final: bool, decided: float) -> None:
        """Emit ``items`` (summary, track): embedded here, or, with ``defer_embedding``, queued in
        :attr:`outgoing` for the caller to embed together with other cameras' (one batched call)."""
        from reid.video.tracklets import embed_summaries

        ready = []
        for s, track in items:  # the state of the track at its emission, before more boxes arrive
            boxes = np.asarray(track.boxes, np.float32).reshape(-1, 6)
            track.boxes = []
            ready.append(_Outgoing(s, track.seen_wall, track.sequence, boxes, final, decided))
            track.sequence += 1
            track.last_emit = s.tracklet.last_time
        if self.defer_embedding:
            self.outgoing.extend(ready)
            return
        if self.embedder is not None:
            embed_summaries([o.summary for o in ready], self.embedder, self.cfg.embed_batch_size)
        self.deliver(ready)

    def deliver(self, ready: list[_Outgoing]) -> None:
        """Emit embedded emissions as events."""
        for o in ready:
            t = o.summary.tracklet
            crops, images = self._shipped(t.crop_paths)
            self.emit(TrackletEvent(
                camera=t.camera, track_id=t.track_id, cls=t.cls, first_frame=t.first_frame,
                last_frame=t.last_frame, t_start=t.first_time, t_end=t.last_time, num_boxes=t.num_boxes,
                feature=t.feature, crops=crops, boxes=o.boxes, final=o.final, ended_wall=o.decided,
                seen_wall=o.seen_wall, sequence=o.sequence, crop_images=images))
            if o.final:
                self.tracklets += 1

    def _shipped(self, paths: list[str]) -> tuple[list[str], list[bytes]]:
        """Crop paths as they are (a worker that shares the output folder), or, with ``ship_outputs``, paths
        relative to the output folder plus the JPEG bytes (a worker on another machine); the local copy goes."""
        from pathlib import Path

        if not self.job.ship_outputs:
            return list(paths), []
        root = Path(self.job.out_dir)
        rel, images = [], []
        for p in paths:
            path = Path(p)
            rel.append(str(path.relative_to(root)))
            images.append(path.read_bytes())
            path.unlink()
        return rel, images


def run_live_camera(job: CameraJob, emit: Any, stop: Any, embedder: Any = None) -> CameraSummary:
    """Run one live camera until its source ends or ``stop`` is set; emits events, status and the summary."""
    from reid.live.reader import LiveReader
    from reid.video.pipeline import load_embedder

    live = job.live
    if embedder is None:
        embedder = load_embedder(job.config)
    reader = LiveReader.open(job.source, job.config, live, job.start_time, getattr(live, "epoch", None))
    camera = LiveCamera(job, emit, embedder, fps=reader.fps)
    reader.start()
    started = time.monotonic()
    last_status = 0.0
    processed_window: list[float] = []
    state = "complete"
    try:
        while True:
            if stop is not None and stop.is_set():
                state = "interrupted"
                break
            frame = reader.get(timeout=0.25)
            if frame is None:
                if reader.finished:
                    break
            else:
                camera.process([frame])
                processed_window.append(time.monotonic())
            now = time.monotonic()
            if now - last_status >= live.status_every:
                last_status = now
                processed_window = [t for t in processed_window if now - t <= 2.0]
                _status(emit, job.camera, reader, camera, len(processed_window) / min(2.0, max(now - started, 1e-3)))
                emit(CameraProgress(job.camera, camera.frames, None, {"tracks": len(camera.tracks)}))
        if reader.error is not None:
            error = reader.error
            raise error if isinstance(error, ReidError) else InputError(f"{job.source}: {error}")
        camera.close()
    finally:
        reader.stop()
    source = reader.source
    if state == "complete" and (source.incomplete or getattr(source, "restarted", False)):
        state = "incomplete" if source.incomplete else "ended"
    _status(emit, job.camera, reader, camera, 0.0, state=state, warning=source.warning)
    summary = CameraSummary(
        camera=job.camera, source=job.source, frames=camera.frames, fps=reader.fps, tracklets=camera.tracklets,
        start_time=job.start_time, incomplete=source.incomplete, warning=source.warning,
        seconds=time.monotonic() - started, frames_dropped=reader.stats.frames_dropped,
        reconnects=reader.reconnects, state=state)
    emit(CameraFinished(job.camera, summary))
    return summary


def _status(emit: Any, camera_name: str, reader: Any, camera: LiveCamera, fps_processed: float,
            state: str = "running", warning: str = "") -> None:
    emit(CameraStatus(camera=camera_name, connected=reader.connected, fps_in=round(reader.stats.fps_in, 2),
                      fps_processed=round(fps_processed, 2), frames_in=reader.stats.frames_in,
                      frames_processed=camera.frames, frames_dropped=reader.stats.frames_dropped,
                      reconnects=reader.reconnects, last_frame_time=camera.last_time, wall_time=time.time(),
                      state=state, warning=warning or getattr(reader.source, "warning", "")))
