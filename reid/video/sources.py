"""Frame sources: a video file, a folder of frames, a network stream or a webcam, read one frame at a time.

Every source yields :class:`Frame` values and never keeps more than the current frame, so a ten-hour video
costs the same memory as a ten-second one. Frame indices are those of the original input (``--vid-stride``
skips frames without renumbering), so MOT output lines up with ground truth written for every frame.

A source that ends early records why: a file that breaks part way sets ``incomplete`` and ``warning`` with the
frame number where reading stopped; a stream that drops is reopened a few times before it stops cleanly.
"""

from __future__ import annotations

import abc
import contextlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reid.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (
    ".mp4",
    ".avi",
    ".mkv",
    ".mov",
    ".m4v",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".webm",
    ".ts",
    ".flv",
    ".mjpeg",
)
STREAM_PREFIXES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://")
DEFAULT_FPS = 25.0
HOLD_BYTES = 256 << 20  # frames held back after a reconnect until they prove new (not a replay), at most


@dataclass
class Frame:
    """One decoded frame: ``index`` in the original input (0-based), ``time`` in seconds, ``image`` BGR uint8."""

    index: int
    time: float
    image: np.ndarray


def utf8_name(path: Path) -> bool:
    """Whether ``path`` is valid UTF-8 (OpenCV cannot open other names, and may crash on them)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def require_utf8_name(path: Path) -> None:
    if not utf8_name(path):
        raise InputError(f"the name of {ascii(str(path))} is not valid UTF-8, which OpenCV cannot open",
                         "rename the file or folder")


def quiet_ffmpeg() -> None:
    """Silence FFmpeg's own log lines (e.g. "moov atom not found"): every failure they describe is reported
    once, as a clear error or warning, by the source. ``OPENCV_FFMPEG_LOGLEVEL`` set by the user wins."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")  # the capture backends' own warnings (a missing webcam)
    import cv2

    with contextlib.suppress(Exception):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def natural_key(name: str) -> list[Any]:
    """Sort key that orders ``frame2.jpg`` before ``frame10.jpg``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class FrameSource(abc.ABC):
    """Base of every source: iterate for frames; afterwards ``incomplete``/``warning`` say if it ended early."""

    kind = "source"

    def __init__(self, name: str, vid_stride: int = 1) -> None:
        if vid_stride < 1:
            raise InputError(f"--vid-stride must be 1 or more, got {vid_stride}")
        self.name = name
        self.vid_stride = vid_stride
        self.fps: float = DEFAULT_FPS
        self.total_frames: int | None = None
        self.size: tuple[int, int] | None = None  # (width, height)
        self.frames_read = 0
        self.frames_skipped = 0  # unreadable frames that were skipped (a frame folder)
        self.skipped_names: list[str] = []  # the first few of them, for the warning
        self.incomplete = False
        self.warning = ""
        self.replayable = True  # can be read a second time (files and folders), e.g. to redraw a video

    @property
    def camera(self) -> str:
        """Default camera name: the file or folder stem, or a sanitised stream address (one safe path
        component: a name from a file never becomes a path outside the output folder)."""
        from reid.outputs import safe_component

        return safe_component(Path(self.name).stem or self.name)

    @property
    def expected_outputs(self) -> int | None:
        """How many frames iteration will yield when nothing goes wrong (for progress bars)."""
        if self.total_frames is None:
            return None
        return (self.total_frames + self.vid_stride - 1) // self.vid_stride

    def _mark_broken(self, index: int, why: str) -> None:
        self.incomplete = True
        self.warning = f"{self.name}: {why} at frame {index + 1}; outputs cover frames 1..{index} only"

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Frame]:
        """Yield the frames one at a time, setting ``frames_read``, ``incomplete`` and ``warning``."""


class VideoFileSource(FrameSource):
    """Anything OpenCV can open as a file. Timestamps come from the container, fps is the fallback."""

    kind = "video"

    def __init__(self, path: str | Path, vid_stride: int = 1, fps: float | None = None) -> None:
        import cv2

        path = Path(path)
        super().__init__(str(path), vid_stride)
        if not path.exists():
            raise InputError(f"video {path} does not exist", "check SOURCE")
        require_utf8_name(path)
        if path.stat().st_size == 0:
            raise InputError(f"video {path} is an empty file")
        quiet_ffmpeg()
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise InputError(
                f"{path} is not a video OpenCV can read (unknown format, or the file is corrupt)"
            )
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        container_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps or (container_fps if 0 < container_fps < 1000 else DEFAULT_FPS)
        self.total_frames = count if count > 0 else None
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.size = (w, h) if w > 0 and h > 0 else None
        self._cap = cap
        self._path = path
        self._fps_override = fps is not None

    def _reopen(self) -> Any:
        import cv2

        if self._cap is None:
            self._cap = cv2.VideoCapture(str(self._path))
        return self._cap

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        cap = self._reopen()
        self.frames_read = 0
        self.incomplete = False
        self.warning = ""
        index = 0
        try:
            while True:
                if index % self.vid_stride:
                    ok = cap.grab()  # skipped frames are not decoded
                    image = None
                else:
                    ok, image = cap.read()
                if not ok:
                    break
                if image is not None:
                    msec = float(cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
                    t = (
                        msec / 1000.0
                        if (msec > 0 or index == 0) and not self._fps_override
                        else index / self.fps
                    )
                    self.frames_read += 1
                    yield Frame(index, t, image)
                index += 1
            if index == 0:
                raise InputError(f"video {self.name} has no frames")
            if self.total_frames is not None and index < self.total_frames:
                self._mark_broken(
                    index, f"the video could not be decoded past frame {index} of {self.total_frames}"
                )
        finally:
            cap.release()
            self._cap = None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FolderSource(FrameSource):
    """A folder of image files, read in natural name order at a fixed frame rate (default 25 fps)."""

    kind = "frames"

    def __init__(self, folder: str | Path, vid_stride: int = 1, fps: float | None = None) -> None:
        folder = Path(folder)
        super().__init__(str(folder), vid_stride)
        require_utf8_name(folder)
        self.files = sorted(
            (p for p in folder.iterdir()
             if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and utf8_name(p)),
            key=lambda p: natural_key(p.name),
        )
        if not self.files:
            raise InputError(f"folder {folder} holds no image frames ({', '.join(IMAGE_SUFFIXES)})")
        self.fps = fps or DEFAULT_FPS
        self.total_frames = len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        self.frames_read = 0
        self.frames_skipped = 0
        self.skipped_names = []
        self.incomplete = False
        self.warning = ""
        for index in range(0, len(self.files), self.vid_stride):
            image = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
            if image is None or (self.size is not None and (image.shape[1], image.shape[0]) != self.size):
                # one bad frame must not cost the rest of the camera: skip it, count it, say which
                self.frames_skipped += 1
                if len(self.skipped_names) < 5:
                    self.skipped_names.append(self.files[index].name)
                self.warning = (f"{self.name}: skipped {self.frames_skipped} unreadable frame file(s) "
                                f"({', '.join(self.skipped_names)}{', ...' if self.frames_skipped > 5 else ''})")
                continue
            if self.size is None:
                self.size = (image.shape[1], image.shape[0])
            self.frames_read += 1
            yield Frame(index, index / self.fps, image)
        if self.frames_read == 0:
            raise InputError(f"folder {self.name} holds no readable image frame "
                             f"({self.frames_skipped} file(s) could not be decoded)")


class StreamSource(FrameSource):
    """An RTSP/HTTP stream or a webcam index.

    Two kinds of network source behave differently at their end:

    - A *finite* source (a video file behind a web server: the stream reports a frame count) ends where it
      ends. Reading stops at its last frame; a break before that is reconnected and the reading continues at
      the frame where it stopped, and the end of the file is never taken for a drop.
    - A *live* source (RTSP, MJPEG over HTTP, a webcam) that drops is reopened with exponential backoff
      (``reconnect_delay`` doubling up to ``max_delay``), ``reconnects`` times in a row at most. A reconnect
      that starts the same video again from its first frame (a server looping a file) is detected by
      comparing the first frames after the reconnect with the first frames of the stream, and ends the camera.

    Timestamps come from the stream when it provides them, else from the wall clock since the first frame,
    so gaps while reconnecting show up as gaps in time (which the tracker's time-based logic expects).
    """

    kind = "stream"

    def __init__(
        self,
        address: str | int,
        vid_stride: int = 1,
        fps: float | None = None,
        reconnects: int = 3,
        reconnect_delay: float = 1.0,
        capture_factory: Callable[[str | int], Any] | None = None,
        max_delay: float = 30.0,
    ) -> None:
        super().__init__(f"webcam{address}" if isinstance(address, int) else str(address), vid_stride)
        self.replayable = False
        self.address = address
        self.reconnects = reconnects
        self.reconnect_delay = reconnect_delay
        self.max_delay = max_delay
        self.reconnect_count = 0  # reconnects that succeeded, over the whole run
        self.restarted = False  # the source started its video again from the first frame; we stopped there
        self.connected = True  # false while the stream is down and being reconnected
        self._factory = capture_factory or _opencv_capture
        self._fps_override = fps
        cap = self._factory(address)
        if not cap.isOpened():
            cap.release()
            what = f"webcam {address}" if isinstance(address, int) else f"stream {address}"
            raise InputError(f"cannot open {what}", "check the address, the network, or the webcam index")
        stream_fps = float(cap.get(5) or 0.0)  # cv2.CAP_PROP_FPS == 5
        self.fps = fps or (stream_fps if 0 < stream_fps < 1000 else DEFAULT_FPS)
        count = int(cap.get(7) or 0)  # cv2.CAP_PROP_FRAME_COUNT == 7
        self.finite = not isinstance(address, int) and count > 0
        self.total_frames = count if self.finite else None
        self._cap = cap

    def __iter__(self) -> Iterator[Frame]:
        cap = self._cap or self._factory(self.address)
        self._cap = None
        self.frames_read = 0
        index = 0
        start = time.monotonic()
        failures = 0
        opening = _Signature()  # the first frames of the stream, to recognise a restart
        after_reconnect: _ReplayCheck | None = None
        held: list[Frame] = []
        failures_seen = 0  # reconnects so far: the opening signature is taken before the first one
        try:
            while True:
                ok, image = cap.read() if cap.isOpened() else (False, None)
                if not ok or image is None:
                    if self.finite and self.total_frames is not None and index >= self.total_frames:
                        return  # the end of a file behind a web server: the end, not a drop
                    failures += 1
                    self.connected = False
                    opening.closed = opening.closed or index > 0  # the first connection's frames are all in
                    if after_reconnect is not None and after_reconnect.feed_end():
                        self._replayed(index - len(held))
                        return
                    if self.frames_read == 0 and index == 0 and failures >= 3:
                        # opened, but never one frame: reconnecting for ever would hide it (a video behind a web
                        # server without range requests, a codec OpenCV lacks)
                        raise InputError(f"{self.name} opens but delivers no frame (tried {failures} times)",
                                         "check that the source plays, e.g. with ffplay; an mp4 behind a web "
                                         "server needs range requests")
                    if failures > self.reconnects:
                        self.incomplete = True
                        self.warning = (
                            f"{self.name}: stream dropped after frame {index} and did not come back after "
                            f"{self.reconnects} reconnects; everything read so far was written"
                        )
                        return
                    cap.release()
                    time.sleep(min(self.max_delay, self.reconnect_delay * 2 ** (failures - 1)))
                    cap = self._factory(self.address)
                    if self.finite and cap.isOpened() and index > 0:
                        cap.set(1, float(index))  # cv2.CAP_PROP_POS_FRAMES == 1: continue where it broke
                    elif cap.isOpened():
                        after_reconnect = _ReplayCheck(opening)
                    continue
                if failures:
                    self.reconnect_count += 1
                    failures_seen += 1
                failures = 0
                self.connected = True
                if failures_seen == 0:
                    opening.add(image)
                if index % self.vid_stride == 0:
                    msec = float(cap.get(0) or 0.0)  # cv2.CAP_PROP_POS_MSEC == 0
                    t = msec / 1000.0 if msec > 0 and self._fps_override is None else time.monotonic() - start
                    if self._fps_override is not None:
                        t = index / self._fps_override
                    held.append(Frame(index, t, image))
                index += 1
                if after_reconnect is not None:
                    # the first frames after a reconnect are held back until they prove to be new, not a
                    # replay (within a memory budget: a still scene can take long to decide)
                    verdict = after_reconnect.feed(image)
                    if verdict is None and sum(f.image.nbytes for f in held) < HOLD_BYTES:
                        continue
                    if verdict is not None:
                        after_reconnect = None
                    if verdict:
                        self._replayed(index - len(held))
                        return
                for frame in held:
                    self.frames_read += 1
                    yield frame
                held.clear()
        finally:
            cap.release()

    def _replayed(self, ended_at: int) -> None:
        self.restarted = True
        self.warning = (f"{self.name}: the source started again from its first frame after a reconnect; the "
                        f"camera ended at frame {ended_at}")

    def close(self) -> None:
        """Release the stream (also done when iteration ends)."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class _Signature:
    """Small grey thumbnails of the first connection's frames, to tell a stream that started its video again
    from a live one that came back (see :class:`_ReplayCheck`)."""

    length = 600  # thumbnails kept at most (about 6 MB): the opening is compared this far
    informative = 5  # frames showing motion that must match before a replay is declared
    same = 3.0  # largest |a - b| on 0..255 for "the same frame" (a replay decodes to the same pixels)
    moving = 24.0  # ... and above this between consecutive opening frames for "something moved"
    changed = 6.0  # ... and above this for "the picture changed at all" (more than a camera's noise)
    skip = 3  # frames a replay may skip between two frames it delivers

    def __init__(self) -> None:
        self.thumbs: list[np.ndarray] = []
        self.closed = False  # the first connection ended: the thumbnails are the whole of what it delivered

    @property
    def full(self) -> bool:
        return len(self.thumbs) >= self.length

    def add(self, image: np.ndarray) -> None:
        if not self.full and not self.closed:
            self.thumbs.append(_thumb(image))

    @staticmethod
    def diff(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a - b).max()) if a.shape == b.shape else 255.0


class _ReplayCheck:
    """Whether the frames after a reconnect replay the stream's opening, decided frame by frame.

    A replay decodes to the same pixels as the first pass, so the frames after a reconnect equal the opening
    one for one (a few may be skipped by a server that plays in real time to a slow reader). A live street
    does not, as soon as anything moves: ``informative`` matching frames that show motion decide a replay.
    Frames in which nothing moves prove nothing (an empty road looks the same every minute), so the
    comparison goes on. Two ends without motion evidence: the opening was a whole connection that ended (a
    short clip) and the frames after the reconnect matched all of it, with some change in it that a camera's
    noise cannot make: a replay of the clip; or the opening ran to its end still: taken for live.
    """

    def __init__(self, opening: _Signature) -> None:
        self.opening = opening
        self.j = 0  # the next opening frame a replay would deliver
        self.evidence = 0
        self.changes = 0

    def feed(self, image: np.ndarray) -> bool | None:
        """True (a replay), False (new frames), or None while there is not enough evidence yet."""
        thumbs = self.opening.thumbs
        if self.j >= len(thumbs):
            return self._at_end()
        b = _thumb(image)
        found = next((k for k in range(self.j, min(self.j + _Signature.skip + 1, len(thumbs)))
                      if _Signature.diff(thumbs[k], b) <= _Signature.same), None)
        if found is None:
            return False
        if found > 0:
            step = _Signature.diff(thumbs[found], thumbs[found - 1])
            self.changes += step > _Signature.changed
            if step > _Signature.moving:
                self.evidence += 1
                if self.evidence >= _Signature.informative:
                    return True
        self.j = found + 1
        return self._at_end() if self.j >= len(thumbs) else None

    def feed_end(self) -> bool:
        """The connection ended again: a replay if it had delivered the whole opening clip (give or take the
        frames a replay may skip at its end)."""
        return self.j >= len(self.opening.thumbs) - _Signature.skip and self._at_end()

    def _at_end(self) -> bool:
        clip = self.opening.closed and not self.opening.full
        return bool(clip and self.changes > 0)


def _thumb(image: np.ndarray) -> np.ndarray:
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, (96, 54), interpolation=cv2.INTER_AREA).astype(np.int16)


def _opencv_capture(address: str | int) -> Any:
    import cv2

    quiet_ffmpeg()
    return cv2.VideoCapture(address)


def is_camera_folder(path: Path) -> bool:
    """A folder of cameras holds video files or subfolders rather than image frames."""
    if not path.is_dir():
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    has_images = any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in entries)
    has_cameras = any((p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES) or p.is_dir() for p in entries)
    return has_cameras and not has_images


def open_source(
    spec: str | Path | int, vid_stride: int = 1, fps: float | None = None, reconnects: int = 3
) -> FrameSource:
    """Open ``spec``: a video file, a folder of frames, a stream URL, or a webcam index (``"0"`` or ``0``)."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return StreamSource(int(spec), vid_stride, fps, reconnects)
    text = str(spec)
    if text.lower().startswith(STREAM_PREFIXES):
        return StreamSource(text, vid_stride, fps, reconnects)
    path = Path(text).expanduser()
    if path.is_dir():
        if is_camera_folder(path):
            raise InputError(
                f"folder of cameras: {path} holds videos or subfolders, not image frames",
                "pass one video or one folder of frames",
            )
        return FolderSource(path, vid_stride, fps)
    if not path.exists():
        raise InputError(
            f"source {path} does not exist",
            "SOURCE is a video file, a folder of frames, a URL or a webcam index",
        )
    return VideoFileSource(path, vid_stride, fps)
