"""Reading a camera in real time: one thread per camera reads frames as they come, the camera worker takes the
newest one.

A slow consumer must not make a live camera lag without bound (Ultralytics' ``LoadStreams`` does the same):
the reader thread keeps only the newest frame, and a frame the worker had no time for is dropped and counted
(``drop: newest``). With ``drop: none`` the reader waits for the worker instead, so every frame is processed,
however late. A file (or frame folder) is read at its own frame rate, as if it were live.

Frame numbers: a file keeps its own frame indices (so MOT output lines up with ground truth written for the
file); a stream numbers the frames it delivers, skipped ones included, from 0. Times: a file's frames are at
``start_time + index / fps``; a stream's at wall-clock seconds since ``epoch`` (the first start of this live
output folder), so that several cameras, and a restarted run, share one clock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from reid.video.sources import Frame, FrameSource, StreamSource, open_source


@dataclass
class ReaderStats:
    """Counters of one reader (read by the camera worker for ``status.json``)."""

    frames_in: int = 0
    frames_dropped: int = 0
    connected: bool = False
    fps_in: float = 0.0


class LiveReader:
    """A reader thread over ``source``; :meth:`get` returns the newest frame not yet taken."""

    def __init__(self, source: FrameSource, drop: str = "newest", start_time: float = 0.0,
                 epoch: float | None = None, speed: float = 1.0) -> None:
        self.source = source
        self.drop = drop
        self.speed = speed
        self.start_time = start_time
        self.epoch = time.time() if epoch is None else epoch
        self.is_stream = isinstance(source, StreamSource) and not source.finite
        self.stats = ReaderStats(connected=True)
        self.ended = False
        self.error: BaseException | None = None
        self._slot: Frame | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reader-{source.camera}", daemon=True)

    @classmethod
    def open(cls, spec: str, config: Any, live: Any, start_time: float, epoch: float | None) -> LiveReader:
        """Open ``spec`` (URL, webcam index, file or frame folder) for live reading."""
        source = open_source(spec, config.vid_stride, config.fps, max(live.reconnects, 0))
        if isinstance(source, StreamSource):
            source.reconnects = live.reconnects if live.reconnects >= 0 else 10**9
            source.reconnect_delay = live.reconnect_delay
            source.max_delay = live.max_reconnect_delay
        return cls(source, live.drop, start_time, epoch, live.file_speed)

    @property
    def fps(self) -> float:
        return self.source.fps / self.source.vid_stride

    @property
    def connected(self) -> bool:
        return bool(getattr(self.source, "connected", True)) and not self.ended

    @property
    def reconnects(self) -> int:
        return int(getattr(self.source, "reconnect_count", 0))

    def start(self) -> LiveReader:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(5)

    def get(self, timeout: float = 0.5) -> Frame | None:
        """The newest frame not yet taken, waiting up to ``timeout`` seconds; None when there is none."""
        with self._cond:
            if self._slot is None and not self.ended:
                self._cond.wait(timeout)
            frame, self._slot = self._slot, None
            self._cond.notify_all()
            return frame

    @property
    def finished(self) -> bool:
        """The source has ended and its last frame was taken."""
        with self._cond:
            return self.ended and self._slot is None

    def _run(self) -> None:
        started = time.monotonic()
        window_start, window_count = started, 0
        try:
            for frame in self.source:
                if self._stop.is_set():
                    break
                if self.is_stream:
                    frame = Frame(frame.index, time.time() - self.epoch, frame.image)
                else:  # a file: play it at its own rate, as a camera would deliver it
                    due = started + frame.index / (self.source.fps * self.speed)
                    delay = due - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                    frame = Frame(frame.index, self.start_time + frame.index / self.source.fps, frame.image)
                self._offer(frame)
                window_count += 1
                now = time.monotonic()
                if now - window_start >= 1.0:
                    self.stats.fps_in = window_count / (now - window_start)
                    window_start, window_count = now, 0
        except BaseException as exc:  # handed to the worker, which reports it for this camera
            self.error = exc
        finally:
            self.stats.connected = False
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _offer(self, frame: Frame) -> None:
        with self._cond:
            self.stats.frames_in += 1
            if self._slot is not None:
                if self.drop == "none":
                    while self._slot is not None and not self._stop.is_set():
                        self._cond.wait(0.5)
                else:
                    self.stats.frames_dropped += 1
            self._slot = frame
            self._cond.notify_all()
