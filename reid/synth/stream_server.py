"""A small MJPEG-over-HTTP server that plays video files as live camera streams, on 127.0.0.1 only.

Tests and ``benchmarks/live.py`` use it to serve a synthetic scene the way an IP camera serves its picture:
``multipart/x-mixed-replace`` JPEG frames at the video's frame rate, in real time, to every client that
connects. A client that connects late sees the current frame, not the first one: it is a live stream. The
server can also be stopped and started again mid-stream (a camera that drops off the network).

When a channel's clock starts (``clock``): ``start``, when the server starts; ``connect``, at the first
connection to that channel (a client that connects late still sees the video from its first frame, and a
reconnect sees it live); ``each``, at every connection (a naive server that starts the file again for every
client, which a reader must recognise as a replay).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from reid.errors import InputError

BOUNDARY = "reidframe"
LOOPBACK = "127.0.0.1"


@dataclass
class _Channel:
    """One camera: its decoded frames (JPEG bytes), frame rate and the clock it plays on."""

    frames: list[bytes]
    fps: float
    started: float = field(default_factory=time.monotonic)
    connected: bool = False  # a client has connected (the "connect" clock starts then)

    def current(self, now: float) -> int | None:
        """Index of the frame on air at ``now``; None once the video is over."""
        index = int((now - self.started) * self.fps)
        return index if index < len(self.frames) else None


class MjpegServer:
    """Serve ``videos`` (camera name -> video file) as ``http://127.0.0.1:PORT/<camera>.mjpg``.

    ``speed`` plays faster than real time (tests); ``max_frames`` keeps only the first frames of each video.
    Frames are decoded and JPEG-encoded once, up front, so serving costs no decoding.
    """

    def __init__(self, videos: dict[str, str | Path], speed: float = 1.0, port: int = 0,
                 max_frames: int | None = None, clock: str = "start", quality: int = 85, loop: bool = False) -> None:
        if clock not in ("start", "connect", "each"):
            raise ValueError(f"clock must be start, connect or each, not {clock!r}")
        self.speed = speed
        self.port = port
        self.clock = clock
        self.loop = loop  # a camera that never ends: the video plays again and again, without a break
        self.channels = {name: _load(Path(path), max_frames, quality, speed) for name, path in videos.items()}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def url(self, camera: str) -> str:
        return f"http://{LOOPBACK}:{self.port}/{camera}.mjpg"

    def start(self, reset_clock: bool = True) -> MjpegServer:
        """Listen (again) on the loopback address; with ``reset_clock`` the videos start from their beginning."""
        if reset_clock:
            now = time.monotonic()
            for channel in self.channels.values():
                channel.started = now
                channel.connected = False
        self._stopping.clear()
        server = ThreadingHTTPServer((LOOPBACK, self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="mjpeg-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open stream (the clock keeps running: a restart resumes live)."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    @property
    def duration(self) -> float:
        """Seconds until the longest video is over."""
        return max(len(c.frames) / c.fps for c in self.channels.values())

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _load(path: Path, max_frames: int | None, quality: int, speed: float) -> _Channel:
    import cv2

    from reid.video.sources import quiet_ffmpeg

    quiet_ffmpeg()
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"cannot read the video {path} to serve it")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 25.0)
    frames: list[bytes] = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, image = cap.read()
            if not ok:
                break
            ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
            frames.append(np.asarray(data).tobytes())
    finally:
        cap.release()
    if not frames:
        raise InputError(f"the video {path} has no frames to serve")
    return _Channel(frames, fps * speed)


def _handler(server: MjpegServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet: tests read their own output
            pass

        def do_GET(self) -> None:
            name = self.path.strip("/").removesuffix(".mjpg")
            channel = server.channels.get(name)
            if channel is None:
                self.send_error(404, "no such camera")
                return
            if server.clock == "each":
                channel = _Channel(channel.frames, channel.fps)
            elif server.clock == "connect" and not channel.connected:
                channel.connected = True
                channel.started = time.monotonic()
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace;boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            # join live at the frame on air now, then send every frame in order at its time; a slow client is
            # sent the frames late rather than skipped, so that frame n of the stream is frame n of the file
            index = channel.current(time.monotonic())
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
                n = len(channel.frames)
                if index is None and server.loop:
                    index = int((time.monotonic() - channel.started) * channel.fps)
                while not server._stopping.is_set() and index is not None and (server.loop or index < n):
                    delay = channel.started + index / channel.fps - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    frame = channel.frames[index % n]
                    index += 1
                    self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                     f"Content-Length: {len(frame)}\r\n\r\n".encode())
                    self.wfile.write(frame)
                    self.wfile.write(b"\r\n")
                    self.wfile.flush()

    return Handler
