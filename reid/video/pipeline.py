"""One camera end to end: frames -> detections -> tracks -> best crops -> tracklet vectors -> outputs.

:func:`track_video` is the library entry point of ``reid track`` and of the cross-camera stage, which calls
it once per camera. It writes into ``out_dir``:

- ``mot/<camera>.txt``  MOTChallenge rows with the final track ids (written once, atomically, at the end);
- ``tracklets.jsonl``   one line per tracklet (this camera's lines replaced, other cameras' kept);
- ``crops/<camera>/<id>/`` the kept crops, when ``config.save_crops``;
- ``video/<camera>.mp4`` the annotated video, when ``config.save_video``;
- ``status.json``       per camera ``running`` -> ``complete``/``incomplete``/``failed``, so that outputs of a
  broken input or an interrupted run never look complete.

Global ids: the MOT file is the compact per-frame record of a camera. :func:`relabel_camera` rewrites it (and
redraws the annotated video from it, for sources that can be read again) with a ``{track_id: global_id}``
mapping.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid.errors import ReidError
from reid.outputs import claim, folder_for, remove_tree
from reid.types import Tracklet
from reid.video.config import TrackConfig, load_tracker_config
from reid.video.sources import FrameSource, open_source
from reid.video.tracklets import (
    Embedder,
    FreshIds,
    TrackletAccumulator,
    TrackSummary,
    embed_summaries,
    save_crops,
)
from reid.video.writers import (
    TRACKLETS_FILE,
    MotSpool,
    VideoAnnotator,
    mot_path,
    relabel_mot,
    render_video,
    running_entry,
    tracklet_record,
    update_status,
    update_tracklets_jsonl,
    video_path,
)

Progress = Callable[..., None]


@dataclass
class CameraResult:
    """What one camera produced. ``tracklets`` carry vectors when an embedder was given (else ``feature`` None)."""

    camera: str
    tracklets: list[Tracklet]
    mot_path: Path
    frames: int  # frames processed (after --vid-stride)
    fps: float  # frame rate of the input
    incomplete: bool = False
    warning: str = ""
    video_path: Path | None = None
    source: str = ""
    rejoined: dict[int, int] = field(
        default_factory=dict
    )  # piece id -> surviving id, for rejoined pieces only
    seconds: float = 0.0  # wall time of the run (without drawing the video)
    reid_seconds: float = 0.0  # of which: crop selection, embedding and rejoining (the re-ID overhead)
    class_names: dict[int, str] = field(default_factory=dict)

    @property
    def processing_fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def track_video(
    source: str | Path | int | FrameSource,
    camera: str,
    config: TrackConfig,
    embedder: Embedder | None,
    out_dir: Path,
    progress: Progress | None = None,
    time_offset: float = 0.0,
    detector: Any = None,
) -> CameraResult:
    """Track every vehicle of one camera and summarise each track as a :class:`Tracklet`.

    ``time_offset`` (seconds) is added to every tracklet time, so cameras with different start times share one
    clock. ``detector`` may be passed to reuse an already loaded network across cameras (it must be fresh for
    the motion detector, which learns each camera's background). ``out_dir`` must exist (the caller checks it
    with :func:`reid.io.prepare_output_dir`).
    """
    src = (
        source
        if isinstance(source, FrameSource)
        else open_source(source, config.vid_stride, config.fps, config.reconnects)
    )
    run = _CameraPass(src, camera, config, embedder, Path(out_dir), detector, time_offset)
    try:
        batch: list[Any] = []
        for frame in src:
            batch.append(frame)
            if len(batch) >= config.det_batch_size:
                run.frames(batch, progress)
                batch = []
        if batch:
            run.frames(batch, progress)
        result = run.finish()
    except BaseException as exc:
        run.fail(exc)
        raise
    return result


class _CameraPass:
    """The state of one pass over a camera: detector, tracker, per-track state, and the writers it feeds."""

    def __init__(self, src: FrameSource, camera: str, config: TrackConfig, embedder: Embedder | None,
                 out_dir: Path, detector: Any, time_offset: float) -> None:
        from reid.video.detectors import build_detector
        from reid.video.roi import with_region
        from reid.video.tracking import CameraTracker

        self.src, self.camera, self.config, self.embedder, self.out_dir = src, camera, config, embedder, out_dir
        det = detector if detector is not None else build_detector(config)
        self.det = with_region(det, config.roi)  # region of interest: outside detections never reach the tracker
        self.names = dict(getattr(self.det, "names", {}) or {})
        self.step_fps = src.fps / src.vid_stride
        self.tracker = CameraTracker(load_tracker_config(config.tracker), self.step_fps)
        update_status(out_dir, camera, running_entry(src.name))
        self.final_mot = mot_path(out_dir, camera)
        self.spool = MotSpool(self.final_mot)
        self.live_video = (VideoAnnotator(video_path(out_dir, camera), self.step_fps, config.trail)
                           if (config.save_video and not src.replayable) else None)
        self.acc = TrackletAccumulator(camera, config.crops_per_track, self.tracker.track_buffer, time_offset)
        self.ids = FreshIds()
        self.crops_root = out_dir / "crops" / camera
        self.finished: list[TrackSummary] = []
        self.pending: list[TrackSummary] = []
        self.started = time.perf_counter()
        self.processed = 0
        self.reid_time = 0.0

    def frames(self, batch: list[Any], progress: Progress | None) -> None:
        """Detect and track a batch of frames, and hand on the tracks that ended."""
        detections = self.det.detect([f.image for f in batch])
        for frame, dets in zip(batch, detections, strict=True):
            rows = self.tracker.update(dets, frame.image)
            boxes = _matched_boxes(rows, dets)
            rows = self.ids.remap(rows)
            t0 = time.perf_counter()
            self.acc.update(frame.index, frame.time, frame.image, rows, boxes)
            self.reid_time += time.perf_counter() - t0
            self.spool.write(frame.index, rows[:, 4], boxes, rows[:, 5])
            if self.live_video is not None:
                self.live_video.write(frame.index, frame.image, rows[:, 4], boxes)
            self.processed += 1
            self.flush(force=False)
            if progress is not None:
                elapsed = time.perf_counter() - self.started
                progress(self.processed, self.src.expected_outputs,
                         fps=self.processed / elapsed if elapsed else 0.0, tracks=len(self.acc.live))

    def flush(self, force: bool) -> None:
        """Ended tracks wait until their crops fill an embedding batch (all of them when ``force``)."""
        config = self.config
        for s in self.acc.pop_finished(final=force):
            self.ids.end(s.tracklet.track_id)
            if s.tracklet.num_boxes < config.min_boxes:
                continue  # noise (a flicker of the detector): never embedded, its boxes are dropped
            if config.save_crops:
                save_crops(s, self.crops_root / str(s.tracklet.track_id))
            self.pending.append(s)
        if self.embedder is not None and (force or sum(len(s.crops) for s in self.pending) >= config.embed_batch_size):
            t0 = time.perf_counter()
            embed_summaries(self.pending, self.embedder, config.embed_batch_size)
            self.reid_time += time.perf_counter() - t0
        if self.embedder is None or not any(s.crops for s in self.pending):
            for s in self.pending:
                s.crops = []
            self.finished.extend(self.pending)
            self.pending = []

    def finish(self) -> CameraResult:
        """Rejoin broken tracks, write the MOT file, tracklets, video and status; the camera's result."""
        from reid.video.rejoin import rejoin

        config, src = self.config, self.src
        self.flush(force=True)
        incomplete, warning = src.incomplete, src.warning  # read now: drawing the video reads the source again
        seconds = time.perf_counter() - self.started
        t0 = time.perf_counter()
        summaries = list(self.finished)
        if self.embedder is not None:
            summaries, mapping = rejoin(summaries, config.rejoin, self.step_fps)
        else:
            mapping = {s.tracklet.track_id: s.tracklet.track_id for s in summaries}
        self.reid_time += time.perf_counter() - t0
        kept = [s for s in summaries if s.tracklet.num_boxes >= config.min_boxes]
        kept_ids = {s.tracklet.track_id for s in kept}
        final_map = {old: new for old, new in mapping.items() if new in kept_ids}
        if config.save_crops:
            _organise_crops(self.crops_root, mapping, kept_ids, kept)
        self.spool.finish(final_map)
        tracklets = sorted((s.tracklet for s in kept), key=lambda t: t.track_id)
        update_tracklets_jsonl(self.out_dir / TRACKLETS_FILE, self.camera,
                               [tracklet_record(t, self.names) for t in tracklets])
        out_video = None
        if self.live_video is not None:
            self.live_video.finish()
            out_video = self.live_video.path
        elif config.save_video:
            out_video = render_video(src, self.final_mot, video_path(self.out_dir, self.camera), config.trail)
        update_status(self.out_dir, self.camera, {
            "state": "incomplete" if incomplete else "complete", "source": src.name, "frames": self.processed,
            "tracklets": len(tracklets), "frames_skipped": src.frames_skipped, "warning": warning})
        return CameraResult(
            camera=self.camera, tracklets=tracklets, mot_path=self.final_mot, frames=self.processed, fps=src.fps,
            incomplete=incomplete, warning=warning, video_path=out_video, source=src.name,
            rejoined={old: new for old, new in final_map.items() if old != new}, seconds=seconds,
            reid_seconds=self.reid_time, class_names=self.names)

    def fail(self, exc: BaseException) -> None:
        """The pass stopped: no MOT file or video that looks complete, and the status says why."""
        self.spool.abort()
        if self.live_video is not None:
            self.live_video.abort()
        state = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        with contextlib.suppress(OSError, ReidError):  # a full disk must not hide the error that stopped us
            update_status(self.out_dir, self.camera, {"state": state, "source": self.src.name,
                                                      "error": str(exc)[:300], "frames": self.processed})


def load_embedder(config: TrackConfig) -> Embedder | None:
    """The re-ID network the config asks for: a ``reid train`` checkpoint, else the ImageNet backbone.

    Offline without cached ImageNet weights this raises a :class:`reid.errors.WeightsError` that names
    ``--reid-weights``. Returns None when ``config.embed`` is false (tracking only).
    """
    if not config.embed:
        return None
    from reid.models.inference import CropEmbedder

    if config.reid_weights:
        from reid.io import require_file

        require_file(config.reid_weights, "re-ID checkpoint", "--reid-weights")
        return CropEmbedder.from_checkpoint(
            config.reid_weights, device=config.device, batch_size=config.embed_batch_size, flag="--reid-weights"
        )
    return CropEmbedder.from_imagenet(
        config.reid_arch, device=config.device, batch_size=config.embed_batch_size
    )


def _matched_boxes(rows: np.ndarray, dets: Any) -> np.ndarray:
    """The detector's box for each tracker row (the tracker's own box is Kalman-smoothed)."""
    boxes = rows[:, :4].copy()
    for i, idx in enumerate(rows[:, 7].astype(np.int64)):
        if 0 <= idx < len(dets):
            boxes[i] = dets.boxes[idx]
    return boxes


def owns(path: Path) -> bool:
    folder = folder_for(path)
    return folder is None or folder.owns(path)


def _organise_crops(
    root: Path, mapping: dict[int, int], kept_ids: set[int], kept: list[TrackSummary]
) -> None:
    """Move crops of rejoined pieces into the surviving id's folder; delete crops of dropped noise tracks."""
    if not root.is_dir():
        return
    for old, new in mapping.items():
        folder = root / str(old)
        if not folder.is_dir():
            continue
        if new not in kept_ids:
            remove_tree(folder)
        elif new != old:
            target = root / str(new)
            for f in sorted(folder.iterdir()):
                if owns(f):
                    f.replace(claim(target / f.name))
            remove_tree(folder)
    for s in kept:
        s.tracklet.crop_paths = [
            str(root / str(s.tracklet.track_id) / Path(p).name) for p in s.tracklet.crop_paths
        ]


def relabel_camera(
    out_dir: Path,
    camera: str,
    mapping: dict[int, int],
    source: str | Path | FrameSource | None = None,
    config: TrackConfig | None = None,
) -> Path:
    """Rewrite ``mot/<camera>.txt`` with ``{track_id: global_id}`` ids (unmapped ids keep theirs).

    When ``source`` is given and can be read again, the annotated video ``video/<camera>.mp4`` is redrawn from
    the relabelled MOT file. Returns the MOT path.
    """
    path = mot_path(out_dir, camera)
    relabel_mot(path, mapping)
    if source is not None:
        config = config or TrackConfig()
        src = (
            source if isinstance(source, FrameSource) else open_source(source, config.vid_stride, config.fps)
        )
        if src.replayable:
            render_video(src, path, video_path(out_dir, camera), config.trail)
    return path
