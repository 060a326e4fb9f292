"""Network sources served from 127.0.0.1: a file behind a web server ends where it ends; a live MJPEG stream
that drops is reconnected with backoff; a server that starts the video again is recognised and ends the camera."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from pathlib import Path

import pytest
from synthetic import write_video

from reid.synth.stream_server import MjpegServer
from reid.video import sources
from reid.video.sources import StreamSource, open_source


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("net") / "clip.mp4", 40, fps=10.0)


@pytest.fixture()
def file_server(clip: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(clip.parent)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
    server.shutdown()
    server.server_close()


def read_all(src: StreamSource, limit: float = 60.0) -> list[int]:
    """Frame indices of a whole read, failing (instead of hanging) if the source never ends."""
    start = time.monotonic()
    out = []
    for frame in src:
        out.append(frame.index)
        assert time.monotonic() - start < limit, "the source did not end"
    return out


def test_a_file_behind_a_web_server_ends_where_it_ends(file_server: str) -> None:
    src = open_source(file_server, reconnects=3)
    assert isinstance(src, StreamSource) and src.finite and src.total_frames == 40
    assert read_all(src) == list(range(40))
    assert not src.incomplete and src.reconnect_count == 0 and not src.restarted


def test_a_server_that_starts_the_video_again_ends_the_camera(clip: Path) -> None:
    with MjpegServer({"cam": clip}, speed=4.0, clock="each") as server:
        src = open_source(server.url("cam"), reconnects=3)
        src.reconnect_delay = 0.1
        frames = read_all(src)
    assert src.restarted and "started again" in src.warning
    assert len(frames) == 40  # one pass, and no frame of the replay


def write_quiet_clip(path: Path, frames: int) -> Path:
    """A clip in which almost nothing moves: a small dim square creeps across a grey road (a change a camera's
    noise cannot make, yet no frame shows the motion of a vehicle)."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 96))
    for f in range(frames):
        img = np.full((96, 160, 3), 110, np.uint8)
        x = 10 + f
        img[40:52, x:x + 12] = 135
        writer.write(img)
    writer.release()
    return path


@pytest.mark.parametrize("frames", [40, 80])
def test_a_replayed_clip_with_little_motion_is_recognised_at_its_end(tmp_path: Path, frames: int) -> None:
    """A server that plays a quiet clip again for every connection: the replay cannot show motion, but it is the
    whole first connection again, frame for frame; the camera ends after one pass."""
    quiet = write_quiet_clip(tmp_path / "quiet.mp4", frames)
    with MjpegServer({"cam": quiet}, speed=4.0, clock="each") as server:
        src = open_source(server.url("cam"), reconnects=5)
        src.reconnect_delay = 0.1
        read = read_all(src, limit=60.0)
    assert src.restarted and "started again" in src.warning
    assert len(read) == frames  # one pass, no frame of the replay


def test_the_replay_check_takes_a_still_opening_for_live_and_new_frames_for_new() -> None:
    import numpy as np

    from reid.video.sources import _ReplayCheck, _Signature

    still = np.full((54, 96, 3), 100, np.uint8)
    opening = _Signature()
    for _ in range(20):
        opening.add(still)
    opening.closed = True
    check = _ReplayCheck(opening)
    verdicts = [check.feed(still) for _ in range(21)]
    assert verdicts[-1] is False  # nothing ever changed: a replay and a still live scene look alike, so live
    moving = _Signature()
    for f in range(20):
        img = still.copy()
        img[10:30, 2 * f:2 * f + 20] = 250
        moving.add(img)
    moving.closed = True
    other = still.copy()
    other[0:5, 0:5] = 0
    assert _ReplayCheck(moving).feed(other) is False  # not the first frame: new frames, a live stream


def test_a_live_stream_that_drops_is_reconnected_and_continues(clip: Path) -> None:
    server = MjpegServer({"cam": clip}, speed=1.0).start()
    src = open_source(server.url("cam"), reconnects=5)
    src.reconnect_delay = 0.2
    frames: list[int] = []
    reader = threading.Thread(target=lambda: frames.extend(f.index for f in src), daemon=True)
    reader.start()
    try:
        time.sleep(1.2)
        before = len(frames)
        server.stop()  # the camera drops off the network for a moment
        time.sleep(0.6)
        server.start(reset_clock=False)  # and comes back, live: later frames than before
        reader.join(30)
    finally:
        server.stop()
    assert not reader.is_alive()
    assert before > 0 and len(frames) > before
    assert src.reconnect_count >= 1 and not src.restarted


def test_reconnects_back_off_exponentially_then_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    delays: list[float] = []
    monkeypatch.setattr(sources.time, "sleep", delays.append)

    class Capture:
        def __init__(self, opened: bool, frames: int = 0) -> None:
            self.opened, self.frames = opened, frames

        def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
            return self.opened

        def read(self):
            if self.frames:
                self.frames -= 1
                return True, np.zeros((8, 8, 3), np.uint8)
            return False, None

        def get(self, prop: int) -> float:
            return 0.0

        def release(self) -> None:
            pass

    calls = iter([Capture(True, frames=2)] + [Capture(False)] * 10)  # two frames, then the stream is gone
    src = StreamSource("rtsp://127.0.0.1/cam", reconnects=4, reconnect_delay=1.0, max_delay=5.0,
                       capture_factory=lambda address: next(calls))
    assert len(list(src)) == 2
    assert delays == [1.0, 2.0, 4.0, 5.0]
    assert src.incomplete and "4 reconnects" in src.warning


def test_a_stream_that_opens_but_never_delivers_a_frame_is_an_error() -> None:
    from reid.errors import InputError

    class Dead:
        def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
            return True

        def read(self):
            return False, None

        def get(self, prop: int) -> float:
            return 0.0

        def release(self) -> None:
            pass

    src = StreamSource("http://127.0.0.1/x.mp4", reconnects=10**9, reconnect_delay=0.01,
                       capture_factory=lambda address: Dead())
    with pytest.raises(InputError, match="delivers no frame"):
        list(src)
