"""What a camera worker does, whichever engine runs it: one :class:`CameraJob` in, messages out.

``batch`` jobs track a finished file (or frame folder) to its end, join the pieces of tracks broken by
occlusions, and then emit every tracklet as a final :class:`TrackletEvent`, followed by
:class:`CameraFinished`. ``live`` jobs (``reid live``) read a stream in real time and emit each track as it ends
(see :mod:`reid.live.camera`). Expected failures become :class:`CameraFailed`, so that one camera's bad input
never stops the others and the error keeps its class and hint across a process or machine boundary.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reid.engine.messages import (
    CameraFailed,
    CameraFinished,
    CameraJob,
    CameraProgress,
    CameraSummary,
    TrackletEvent,
)
from reid.errors import ReidError

Emit = Callable[[Any], None]


def run_job(job: CameraJob, emit: Emit, stop: threading.Event | Any | None = None, embedder: Any = None) -> None:
    """Run one camera job, sending its messages through ``emit``; never raises a :class:`ReidError`."""
    from reid.outputs import OutputFolder

    try:
        OutputFolder.attach(job.out_dir)
        if job.threads:
            import torch

            torch.set_num_threads(int(job.threads))
        if job.mode == "live":
            from reid.live.camera import run_live_camera

            run_live_camera(job, emit, stop, embedder)
        else:
            run_batch_camera(job, emit, embedder)
    except ReidError as exc:
        emit(CameraFailed(job.camera, type(exc).__name__, exc.message, exc.hint))


def run_batch_camera(job: CameraJob, emit: Emit, embedder: Any = None) -> CameraSummary:
    """Track one finished camera into ``job.work_dir`` and emit its tracklets, then :class:`CameraFinished`."""
    from reid.outputs import folder_for
    from reid.video.pipeline import load_embedder, track_video

    config = job.config
    if embedder is None:
        embedder = load_embedder(config)
    folder = folder_for(job.work_dir)
    work = folder.make_dirs(job.work_dir) if folder is not None else Path(job.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    last = [0.0]

    def progress(done: int, total: int | None = None, **info: Any) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.25 or (total is not None and done >= total):
            last[0] = now
            emit(CameraProgress(job.camera, done, total, {k: v for k, v in info.items()
                                                          if isinstance(v, int | float)}))

    result = track_video(job.source, job.camera, config, embedder, work, progress=progress,
                         time_offset=float(job.start_time))
    for t in result.tracklets:
        emit(TrackletEvent(camera=t.camera, track_id=t.track_id, cls=t.cls, first_frame=t.first_frame,
                           last_frame=t.last_frame, t_start=t.first_time, t_end=t.last_time,
                           num_boxes=t.num_boxes, feature=t.feature, crops=list(t.crop_paths), final=True,
                           ended_wall=time.time()))
    summary = CameraSummary(camera=job.camera, source=result.source, frames=result.frames, fps=result.fps,
                            tracklets=len(result.tracklets), start_time=float(job.start_time),
                            incomplete=result.incomplete, warning=result.warning, seconds=result.seconds,
                            state="incomplete" if result.incomplete else "complete")
    emit(CameraFinished(job.camera, summary))
    return summary
