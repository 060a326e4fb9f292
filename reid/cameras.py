"""The camera network: each camera's frame rate and clock offset, and which cameras a vehicle can travel between.

Read from a ``cameras.yaml`` (``kind: cameras``). The cross-camera linker uses it to reject matches that are
physically impossible (a vehicle cannot reach an unlinked camera, or arrive faster than ``min_travel``).
Links are undirected. With no links at all there is no known topology and every pair of cameras may link.

Example::

    kind: cameras
    cameras:
      cam1: {fps: 10.0, start_time: 0.0}   # start_time: seconds on a clock shared by all cameras
      cam2: {fps: 10.0, start_time: 0.0}
    links:
      - {a: cam1, b: cam2, min_travel: 4.0, max_travel: 20.0}   # seconds
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from reid.config import ConfigModel, load_config


class CameraInfo(ConfigModel):
    """One camera: frames per second of its video and when its first frame was taken on the shared clock.

    ``source`` is what ``reid live`` opens for the camera: an rtsp:// or http(s):// URL, a webcam index, or a
    file (read at its own frame rate, as if live). Camera folders (``reid track DIR``) do not need it.
    """

    fps: float = Field(10.0, gt=0, le=1000, allow_inf_nan=False,
                       description="frames per second of the camera's video")
    start_time: float = Field(0.0, ge=-1e12, le=1e12, allow_inf_nan=False,
                              description="time of the first frame, seconds on the clock shared by all cameras "
                              "(finite; epoch seconds fit)")
    source: str | int | None = Field(None, description="reid live: URL, webcam index or file of this camera")

    def frame_time(self, frame: int) -> float:
        """Shared-clock time of a 1-based frame number."""
        return self.start_time + (frame - 1) / self.fps


class CameraLink(ConfigModel):
    """Two cameras a vehicle can drive between, and how long that takes (seconds, leaving one to entering the other)."""

    a: str
    b: str
    min_travel: float = Field(0.0, ge=0)
    max_travel: float = Field(float("inf"), ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> CameraLink:
        if self.min_travel > self.max_travel:
            raise ValueError(f"link {self.a}-{self.b}: min_travel {self.min_travel} is larger than max_travel {self.max_travel}")
        if self.a == self.b:
            raise ValueError(f"link {self.a}-{self.b} joins a camera to itself")
        return self


class CamerasConfig(ConfigModel):
    """The ``cameras.yaml`` schema: cameras by name, and the undirected links between them."""

    cameras: dict[str, CameraInfo] = Field(default_factory=dict)
    links: list[CameraLink] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_cameras(self) -> CamerasConfig:
        known = set(self.cameras)
        seen: set[frozenset[str]] = set()
        for link in self.links:
            for name in (link.a, link.b):
                if name not in known:
                    raise ValueError(
                        f"link {link.a}-{link.b} names unknown camera {name!r}; known cameras: {', '.join(sorted(known)) or 'none'}"
                    )
            pair = frozenset((link.a, link.b))
            if pair in seen:
                raise ValueError(f"cameras {link.a} and {link.b} are linked twice")
            seen.add(pair)
        return self

    def _link(self, a: str, b: str) -> CameraLink | None:
        for link in self.links:
            if {link.a, link.b} == {a, b}:
                return link
        return None

    def connected(self, a: str, b: str) -> bool:
        """Whether a vehicle can travel directly between ``a`` and ``b`` (always true when no links are given)."""
        if a == b:
            return False
        if not self.links:
            return True
        return self._link(a, b) is not None

    def travel_window(self, a: str, b: str) -> tuple[float, float] | None:
        """(min, max) seconds from leaving ``a`` to entering ``b``; None if not linked; (0, inf) without topology."""
        if not self.connected(a, b):
            return None
        link = self._link(a, b)
        if link is None:
            return (0.0, float("inf"))
        return (link.min_travel, link.max_travel)


def load_cameras(path: str | Path) -> CamerasConfig:
    """Read and validate a ``cameras.yaml``; errors are one-line :class:`reid.errors.ConfigError` naming the file."""
    return load_config(CamerasConfig, path)
