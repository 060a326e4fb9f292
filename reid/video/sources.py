"""Frame sources: a video file, a folder of frames, a network stream or a webcam, read one frame at a time.

Every source yields :class:`Frame` values and never keeps more than the current frame, so a ten-hour video
costs the same memory as a ten-second one. Frame indices are those of the original input (``--vid-stride``
skips frames without renumbering), so MOT output lines up with ground truth written for every frame.

A source that ends early records why: a file that breaks part way sets ``incomplete`` and ``warning`` with the
frame number where reading stopped; a stream that drops is reopened a few times before it stops cleanly.
"""

from __future__ import annotations

import abc
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


@dataclass
class Frame:
    """One decoded frame: ``index`` in the original input (0-based), ``time`` in seconds, ``image`` BGR uint8."""

    index: int
    time: float
    image: np.ndarray


def quiet_ffmpeg() -> None:
    """Silence FFmpeg's own log lines (e.g. "moov atom not found"): every failure they describe is reported
    once, as a clear error or warning, by the source. ``OPENCV_FFMPEG_LOGLEVEL`` set by the user wins."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


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
        self.incomplete = False
        self.warning = ""
        self.replayable = True  # can be read a second time (files and folders), e.g. to redraw a video

    @property
    def camera(self) -> str:
        """Default camera name: the file or folder stem, or a sanitised stream address."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(self.name).stem or self.name).strip("_") or "camera"

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
        self.files = sorted(
            (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda p: natural_key(p.name),
        )
        if not self.files:
            raise InputError(f"folder {folder} holds no image frames ({', '.join(IMAGE_SUFFIXES)})")
        self.fps = fps or DEFAULT_FPS
        self.total_frames = len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        self.frames_read = 0
        self.incomplete = False
        self.warning = ""
        for index in range(0, len(self.files), self.vid_stride):
            image = cv2.imread(str(self.files[index]), cv2.IMREAD_COLOR)
            if image is None:
                self._mark_broken(index, f"frame file {self.files[index].name} is not a readable image")
                return
            if self.size is None:
                self.size = (image.shape[1], image.shape[0])
            self.frames_read += 1
            yield Frame(index, index / self.fps, image)


class StreamSource(FrameSource):
    """An RTSP/HTTP stream or a webcam index. A dropped stream is reopened ``reconnects`` times, then stops.

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
    ) -> None:
        super().__init__(f"webcam{address}" if isinstance(address, int) else str(address), vid_stride)
        self.replayable = False
        self.address = address
        self.reconnects = reconnects
        self.reconnect_delay = reconnect_delay
        self._factory = capture_factory or _opencv_capture
        self._fps_override = fps
        cap = self._factory(address)
        if not cap.isOpened():
            cap.release()
            what = f"webcam {address}" if isinstance(address, int) else f"stream {address}"
            raise InputError(f"cannot open {what}", "check the address, the network, or the webcam index")
        stream_fps = float(cap.get(5) or 0.0)  # cv2.CAP_PROP_FPS == 5
        self.fps = fps or (stream_fps if 0 < stream_fps < 1000 else DEFAULT_FPS)
        self._cap = cap

    def __iter__(self) -> Iterator[Frame]:
        cap = self._cap or self._factory(self.address)
        self._cap = None
        self.frames_read = 0
        index = 0
        start = time.monotonic()
        failures = 0
        try:
            while True:
                ok, image = cap.read() if cap.isOpened() else (False, None)
                if not ok or image is None:
                    failures += 1
                    if failures > self.reconnects:
                        self.incomplete = True
                        self.warning = (
                            f"{self.name}: stream dropped after frame {index} and did not come back after "
                            f"{self.reconnects} reconnects; everything read so far was written"
                        )
                        return
                    cap.release()
                    time.sleep(self.reconnect_delay)
                    cap = self._factory(self.address)
                    continue
                failures = 0
                if index % self.vid_stride == 0:
                    msec = float(cap.get(0) or 0.0)  # cv2.CAP_PROP_POS_MSEC == 0
                    t = msec / 1000.0 if msec > 0 and self._fps_override is None else time.monotonic() - start
                    if self._fps_override is not None:
                        t = index / self._fps_override
                    self.frames_read += 1
                    yield Frame(index, t, image)
                index += 1
        finally:
            cap.release()

    def close(self) -> None:
        """Release the stream (also done when iteration ends)."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


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
