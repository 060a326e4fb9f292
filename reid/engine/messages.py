"""The messages between camera workers and the process that owns identities and the gallery.

A camera worker owns one camera: it reads frames, tracks, and sends what it found as these values. They cross a
process (or, with Ray, a machine) boundary, so each is a dataclass of plain fields and NumPy arrays with a
documented shape — nothing that needs the sender's modules or objects to make sense of.

Schema, per message:

- :class:`CameraJob` (driver -> worker): which camera to run, on which source, with which settings.
- :class:`TrackletEvent` (worker -> driver): a track that ended (``final``), or a long stay's periodic
  emission (``final`` false, every ``emit_every`` seconds). Carries the vector of the track's best crops so far
  and the boxes seen since the previous emission of that track.
- :class:`CameraStatus` (worker -> driver, about once a second while live): connection, rates, drops.
- :class:`CameraProgress` (worker -> driver): frames done, for progress bars.
- :class:`CameraFinished` / :class:`CameraFailed` (worker -> driver): the last message of a camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np


@dataclass
class CameraJob:
    """One camera to run. ``config`` is a :class:`reid.video.config.TrackConfig`; ``live`` holds the live
    settings (:class:`reid.live.config.LiveConfig`) when ``mode`` is ``live``.

    ``out_dir`` is the run's output folder (workers write only below it); ``work_dir`` the camera's own folder
    in it. ``start_time`` puts the camera on the shared clock. ``id_offset`` is added to the tracker's local ids,
    so that a restarted live camera never reuses an id of an earlier session; ``frame_offset`` likewise for MOT
    frame numbers.
    """

    camera: str
    source: str
    out_dir: str
    work_dir: str
    config: Any
    mode: Literal["batch", "live"] = "batch"
    start_time: float = 0.0
    live: Any = None
    id_offset: int = 0
    frame_offset: int = 0
    threads: int = 0  # torch threads in the worker (0: leave the default)
    ship_outputs: bool = False  # the worker has no access to out_dir: crops travel inside the events


@dataclass
class TrackletEvent:
    """A tracklet of one camera, as the linker receives it.

    ``track_id`` is the camera's local id (``CameraJob.id_offset`` included). Times ``t_start``/``t_end`` are
    seconds on the shared clock; ``frames`` are 0-based frame indices of this session. ``feature`` is the (D,)
    float32 unit vector of the best crops so far (None without an embedder). ``boxes`` is (N, 6) float32 rows
    ``frame, x1, y1, x2, y2, score`` (frame 0-based) seen since this track's previous emission. ``ended_wall`` is
    the wall-clock time (``time.time()``) at which the worker decided the track ended, or emitted it.
    """

    camera: str
    track_id: int
    cls: int
    first_frame: int
    last_frame: int
    t_start: float
    t_end: float
    num_boxes: int
    feature: np.ndarray | None
    crops: list[str] = field(default_factory=list)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 6), np.float32))
    final: bool = True
    ended_wall: float = 0.0
    sequence: int = 0  # 0 for a track's first emission, then 1, 2, ...
    worker: str = ""  # which run of the camera's worker sent it (a restarted worker has another token)
    seen_wall: float = 0.0  # wall-clock time of the last frame the track was seen in (0: not known)
    crop_images: list[bytes] = field(default_factory=list)  # with ship_outputs: the crops' JPEG bytes,
    # and ``crops`` are then paths relative to the output folder


@dataclass
class CameraStatus:
    """How a live camera is doing (written to ``status.json`` by the driver)."""

    camera: str
    connected: bool
    fps_in: float
    fps_processed: float
    frames_in: int
    frames_processed: int
    frames_dropped: int
    reconnects: int
    last_frame_time: float | None  # stream seconds of the newest processed frame
    wall_time: float
    state: str = "running"
    warning: str = ""


@dataclass
class CameraProgress:
    """Frames processed so far (``total`` None for a live stream)."""

    camera: str
    done: int
    total: int | None
    info: dict[str, float | int] = field(default_factory=dict)


@dataclass
class CameraSummary:
    """What a finished camera contributed."""

    camera: str
    source: str
    frames: int
    fps: float
    tracklets: int
    start_time: float = 0.0
    incomplete: bool = False
    warning: str = ""
    seconds: float = 0.0
    frames_skipped: int = 0
    frames_dropped: int = 0
    reconnects: int = 0
    state: str = "complete"  # complete | incomplete | interrupted | ended


@dataclass
class CameraFinished:
    """The camera ended normally (its input ended, or the run was asked to stop)."""

    camera: str
    summary: CameraSummary


@dataclass
class CameraFailed:
    """The camera stopped on an error. ``kind`` is the name of the :class:`reid.errors.ReidError` subclass (or
    ``"crash"`` for a worker that died), so that the error keeps its class and hint across the boundary."""

    camera: str
    kind: str
    message: str
    hint: str | None = None


Message = TrackletEvent | CameraStatus | CameraProgress | CameraFinished | CameraFailed
