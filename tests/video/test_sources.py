"""Frame sources: order, stride, timestamps, broken input, dropped streams."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from reid.errors import InputError
from reid.video.sources import FolderSource, StreamSource, open_source


def test_video_file_timestamps_and_stride(short_video) -> None:
    video, _ = short_video
    src = open_source(video)
    frames = [(f.index, f.time) for f in src]
    assert len(frames) == 40 and src.fps == pytest.approx(10.0)
    assert frames[3] == (3, pytest.approx(0.3))
    strided = open_source(video, vid_stride=3)
    got = [(f.index, round(f.time, 3)) for f in strided]
    assert [i for i, _ in got] == list(range(0, 40, 3))
    assert got[2][1] == pytest.approx(0.6)
    assert not strided.incomplete and strided.expected_outputs == len(got)


def test_frame_folder_natural_order_and_fps(tmp_path: Path) -> None:
    for i in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), np.full((8, 8, 3), i, np.uint8))
    src = open_source(tmp_path, fps=5.0)
    assert isinstance(src, FolderSource)
    out = [(f.index, f.time, int(f.image[0, 0, 0])) for f in src]
    assert out == [(0, 0.0, 1), (1, 0.2, 2), (2, 0.4, 10)]


def test_unreadable_frame_in_a_folder_is_skipped_counted_and_the_rest_is_read(tmp_path: Path) -> None:
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((8, 8, 3), i, np.uint8))
    (tmp_path / "3.png").write_bytes(b"not a png")
    src = open_source(tmp_path)
    frames = [(f.index, int(f.image[0, 0, 0])) for f in src]
    assert frames == [(0, 0), (1, 1), (2, 2), (4, 4), (5, 5)]
    assert src.frames_skipped == 1 and not src.incomplete
    assert "3.png" in src.warning


def test_frame_folder_without_one_readable_frame_is_an_error(tmp_path: Path) -> None:
    for i in range(2):
        (tmp_path / f"{i}.png").write_bytes(b"not a png")
    with pytest.raises(InputError, match="no readable image frame"):
        list(open_source(tmp_path))


def test_truncated_video_is_marked_incomplete(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(30):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    src = open_source(path)
    n = len(list(src))
    assert 0 < n < 30
    assert src.incomplete and f"frame {n + 1}" in src.warning


@pytest.mark.parametrize("content", [b"", b"hello, not a video"])
def test_not_a_video_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.mp4"
    path.write_bytes(content)
    with pytest.raises(InputError, match="x.mp4"):
        open_source(path)


def test_missing_source_and_camera_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        open_source(tmp_path / "nope.mp4")
    (tmp_path / "cam1.mp4").write_bytes(b"x")
    with pytest.raises(InputError, match="folder of cameras"):
        open_source(tmp_path)


class FlakyCapture:
    """A capture that serves ``n`` frames, then fails; reopening serves nothing."""

    opened = 0

    def __init__(self, n: int) -> None:
        FlakyCapture.opened += 1
        self.left = n

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return True

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, np.zeros((8, 8, 3), np.uint8)

    def get(self, prop: int) -> float:
        return 0.0

    def release(self) -> None:
        pass


def test_dropped_stream_reconnects_then_stops_cleanly() -> None:
    FlakyCapture.opened = 0
    first = [True]

    def factory(address):
        n = 5 if first[0] else 0
        first[0] = False
        return FlakyCapture(n)

    src = StreamSource(
        "rtsp://camera/1", fps=10.0, reconnects=2, reconnect_delay=0.0, capture_factory=factory
    )
    frames = list(src)
    assert len(frames) == 5 and frames[-1].time == pytest.approx(0.4)
    assert FlakyCapture.opened == 3  # the first capture plus two reconnects
    assert src.incomplete and "dropped after frame 5" in src.warning
