"""Live cameras that share one process and one GPU: batched detector calls across cameras.

On a GPU, one network per camera process wastes memory and leaves the GPU idle between small calls. Here one
worker runs every camera of the run: each camera keeps its own reader thread, tracker and per-track state
(:class:`reid.live.camera.LiveCamera`), and the newest frame of every camera that has one is detected in one
batched call of the shared detector, and the tracks every camera ended meanwhile are embedded in one call of the
shared embedder. A stateful
detector (the motion detector learns each camera's background) cannot be shared, so with it each camera keeps
its own and only the process is shared.

The messages are the same as with one process per camera, so the driver cannot tell the difference.
"""

from __future__ import annotations

import time
from typing import Any

from reid.engine.messages import CameraFailed, CameraFinished, CameraJob, CameraProgress, CameraSummary
from reid.errors import InputError, ReidError


def run_shared_live(jobs: list[CameraJob], emit: Any, stop: Any, embedder: Any = None) -> None:
    """Run every live camera of ``jobs`` in this process until their sources end or ``stop`` is set."""
    from reid.live.camera import LiveCamera, _status
    from reid.live.reader import LiveReader
    from reid.video.detectors import build_detector
    from reid.video.pipeline import load_embedder

    if not jobs:
        return
    config = jobs[0].config
    embedder = embedder if embedder is not None else load_embedder(config)
    shared = build_detector(config) if config.detector != "motion" else None
    cameras: dict[str, tuple[Any, Any]] = {}
    for job in jobs:
        try:
            reader = LiveReader.open(job.source, job.config, job.live, job.start_time,
                                     getattr(job.live, "epoch", None))
            camera = LiveCamera(job, emit, embedder, detector=shared, fps=reader.fps)
            camera.defer_embedding = True  # the ended tracks of every camera are embedded in one call
        except ReidError as exc:
            emit(CameraFailed(job.camera, type(exc).__name__, exc.message, exc.hint))
            continue
        cameras[job.camera] = (reader.start(), camera)
    started = time.monotonic()
    last_status = 0.0
    detector = shared
    states: dict[str, str] = {}
    try:
        while cameras and not (stop is not None and stop.is_set()):
            batch = [(name, reader.get(timeout=0.0), camera) for name, (reader, camera) in cameras.items()]
            ready = [(name, frame, camera) for name, frame, camera in batch if frame is not None]
            if ready:
                if detector is not None:
                    detections = detector.detect([frame.image for _, frame, _ in ready])
                    for (_, frame, camera), dets in zip(ready, detections, strict=True):
                        camera.process([frame], [dets])
                else:
                    for _, frame, camera in ready:
                        camera.process([frame])
            else:
                time.sleep(0.005)
            _embed_together([camera for _, camera in cameras.values()], embedder)
            for name in [n for n, (reader, _) in cameras.items() if reader.finished]:
                reader, camera = cameras.pop(name)
                states[name] = _finish(name, reader, camera, emit, "complete", started)
            now = time.monotonic()
            if now - last_status >= jobs[0].live.status_every:
                last_status = now
                for name, (reader, camera) in cameras.items():
                    _status(emit, name, reader, camera, camera.frames / max(now - started, 1e-3))
                    emit(CameraProgress(name, camera.frames, None, {"tracks": len(camera.tracks)}))
    finally:
        for name, (reader, camera) in list(cameras.items()):
            reader.stop()
            states[name] = _finish(name, reader, camera, emit, "interrupted", started)


def _embed_together(cameras: list[Any], embedder: Any) -> None:
    """One embedding call for the emissions every camera has queued, then each camera sends its own."""
    from reid.video.tracklets import embed_summaries

    queued = [(camera, camera.outgoing) for camera in cameras if camera.outgoing]
    if not queued:
        return
    summaries = [o.summary for _, items in queued for o in items]
    if embedder is not None:
        embed_summaries(summaries, embedder, queued[0][0].cfg.embed_batch_size)
    for camera, items in queued:
        camera.outgoing = []
        camera.deliver(items)


def _finish(name: str, reader: Any, camera: Any, emit: Any, state: str, started: float) -> str:
    """Close one camera: its open tracks are emitted, then its status and summary."""
    from reid.live.camera import _status

    reader.stop()
    if reader.error is not None:
        error = reader.error
        failure = error if isinstance(error, ReidError) else InputError(f"{camera.job.source}: {error}")
        emit(CameraFailed(name, type(failure).__name__, failure.message, failure.hint))
        return "failed"
    camera.close()
    _embed_together([camera], camera.embedder)
    source = reader.source
    if state == "complete" and (source.incomplete or getattr(source, "restarted", False)):
        state = "incomplete" if source.incomplete else "ended"
    _status(emit, name, reader, camera, 0.0, state=state, warning=source.warning)
    emit(CameraFinished(name, CameraSummary(
        camera=name, source=camera.job.source, frames=camera.frames, fps=reader.fps, tracklets=camera.tracklets,
        start_time=camera.job.start_time, incomplete=source.incomplete, warning=source.warning,
        seconds=time.monotonic() - started, frames_dropped=reader.stats.frames_dropped,
        reconnects=reader.reconnects, state=state)))
    return state
