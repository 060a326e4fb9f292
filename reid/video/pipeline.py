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
    from reid.video.detectors import build_detector
    from reid.video.rejoin import rejoin
    from reid.video.roi import with_region
    from reid.video.tracking import CameraTracker

    out_dir = Path(out_dir)
    src = (
        source
        if isinstance(source, FrameSource)
        else open_source(source, config.vid_stride, config.fps, config.reconnects)
    )
    tracker_config = load_tracker_config(config.tracker)
    det = detector if detector is not None else build_detector(config)
    det = with_region(det, config.roi)  # region of interest (reid.video.roi): outside detections never reach the tracker
    names = dict(getattr(det, "names", {}) or {})
    step_fps = src.fps / src.vid_stride
    tracker = CameraTracker(tracker_config, step_fps)

    update_status(out_dir, camera, running_entry(src.name))
    final_mot = mot_path(out_dir, camera)
    spool = MotSpool(final_mot)
    live_video = (
        VideoAnnotator(video_path(out_dir, camera), step_fps, config.trail)
        if (config.save_video and not src.replayable)
        else None
    )
    acc = TrackletAccumulator(camera, config.crops_per_track, tracker.track_buffer, time_offset)
    ids = FreshIds()
    crops_root = out_dir / "crops" / camera
    finished: list[TrackSummary] = []
    pending: list[TrackSummary] = []
    started = time.perf_counter()
    processed = 0
    reid_time = [0.0]

    def flush(force: bool) -> None:
        nonlocal pending
        for s in acc.pop_finished(final=force):
            ids.end(s.tracklet.track_id)
            if s.tracklet.num_boxes < config.min_boxes:
                continue  # noise (a flicker of the detector): never embedded, its boxes are dropped
            if config.save_crops:
                save_crops(s, crops_root / str(s.tracklet.track_id))
            pending.append(s)
        if embedder is not None and (force or sum(len(s.crops) for s in pending) >= config.embed_batch_size):
            t0 = time.perf_counter()
            embed_summaries(pending, embedder, config.embed_batch_size)
            reid_time[0] += time.perf_counter() - t0
        if embedder is None or not any(s.crops for s in pending):
            for s in pending:
                s.crops = []
            finished.extend(pending)
            pending = []

    def run_batch(batch: list[Any]) -> None:
        nonlocal processed
        detections = det.detect([f.image for f in batch])
        for frame, dets in zip(batch, detections, strict=True):
            rows = tracker.update(dets, frame.image)
            boxes = _matched_boxes(rows, dets)
            rows = ids.remap(rows)
            t0 = time.perf_counter()
            acc.update(frame.index, frame.time, frame.image, rows, boxes)
            reid_time[0] += time.perf_counter() - t0
            spool.write(frame.index, rows[:, 4], boxes, rows[:, 5])
            if live_video is not None:
                live_video.write(frame.index, frame.image, rows[:, 4], boxes)
            processed += 1
            flush(force=False)
            if progress is not None:
                elapsed = time.perf_counter() - started
                progress(
                    processed,
                    src.expected_outputs,
                    fps=processed / elapsed if elapsed else 0.0,
                    tracks=len(acc.live),
                )

    try:
        batch: list[Any] = []
        for frame in src:
            batch.append(frame)
            if len(batch) >= config.det_batch_size:
                run_batch(batch)
                batch = []
        if batch:
            run_batch(batch)
        flush(force=True)
        incomplete, warning = (
            src.incomplete,
            src.warning,
        )  # read now: drawing the video reads the source again
        seconds = time.perf_counter() - started

        t0 = time.perf_counter()
        summaries = list(finished)
        summaries, mapping = (
            rejoin(summaries, config.rejoin, step_fps)
            if embedder is not None
            else (
                summaries,
                {s.tracklet.track_id: s.tracklet.track_id for s in summaries},
            )
        )
        reid_time[0] += time.perf_counter() - t0
        kept = [s for s in summaries if s.tracklet.num_boxes >= config.min_boxes]
        kept_ids = {s.tracklet.track_id for s in kept}
        final_map = {old: new for old, new in mapping.items() if new in kept_ids}
        if config.save_crops:
            _organise_crops(crops_root, mapping, kept_ids, kept)
        spool.finish(final_map)
        tracklets = sorted((s.tracklet for s in kept), key=lambda t: t.track_id)
        update_tracklets_jsonl(
            out_dir / TRACKLETS_FILE, camera, [tracklet_record(t, names) for t in tracklets]
        )

        out_video = None
        if live_video is not None:
            live_video.finish()
            out_video = live_video.path
        elif config.save_video:
            out_video = render_video(src, final_mot, video_path(out_dir, camera), config.trail)
    except BaseException as exc:
        spool.abort()
        if live_video is not None:
            live_video.abort()
        state = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        with contextlib.suppress(OSError, ReidError):  # a full disk must not hide the error that stopped us
            update_status(out_dir, camera, {"state": state, "source": src.name, "error": str(exc)[:300],
                                            "frames": processed})
        raise

    update_status(
        out_dir,
        camera,
        {
            "state": "incomplete" if incomplete else "complete",
            "source": src.name,
            "frames": processed,
            "tracklets": len(tracklets),
            "frames_skipped": src.frames_skipped,
            "warning": warning,
        },
    )
    return CameraResult(
        camera=camera,
        tracklets=tracklets,
        mot_path=final_mot,
        frames=processed,
        fps=src.fps,
        incomplete=incomplete,
        warning=warning,
        video_path=out_video,
        source=src.name,
        rejoined={old: new for old, new in final_map.items() if old != new},
        seconds=seconds,
        reid_seconds=reid_time[0],
        class_names=names,
    )


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
            config.reid_weights, device=config.device, batch_size=config.embed_batch_size
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
