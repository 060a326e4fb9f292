"""Settings of ``reid live`` (``kind: live``, see ``configs/live.yaml``).

A live run has three parts: how each camera is tracked (``track:``, the same schema as ``reid track``), how
tracklets are linked into identities (``link:``, as for a folder of cameras), and how the run behaves as a
stream: when tracks are emitted, how frames are dropped when a camera falls behind, how streams reconnect.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from reid.config import ConfigModel
from reid.engine.config import EngineConfig
from reid.gallery.config import LinkConfig
from reid.video.config import TrackConfig


class LiveConfig(ConfigModel):
    """Everything ``reid live`` does besides tracking and linking."""

    track: TrackConfig = Field(default_factory=TrackConfig)
    link: LinkConfig = Field(default_factory=lambda: LinkConfig(mode="online"))
    emit_every: float = Field(
        10.0, gt=0, description="seconds between emissions of a vehicle that stays in view (a long stay)")
    exit_grace: float = Field(
        0.5, ge=0, description="seconds a track lost at the frame border (driving out) waits before it ends")
    lost_grace: float = Field(
        1.0, ge=0, description="seconds a track lost inside the view (an occlusion, a missed detection) waits "
        "before it ends; if the tracker finds it again later, the rest is a new tracklet, which the linker joins "
        "to the same identity by its look (the tracker's track_buffer is the upper bound)")
    drop: Literal["newest", "none"] = Field(
        "newest", description="newest: a camera that falls behind skips to the newest frame and counts the "
        "frames it skipped (real time); none: every frame is processed, however late")
    reconnects: int = Field(
        -1, ge=-1, description="failed reconnects in a row before a live camera is given up (-1: never)")
    reconnect_delay: float = Field(1.0, gt=0, description="first wait before a reconnect; doubles each time")
    max_reconnect_delay: float = Field(30.0, gt=0)
    status_every: float = Field(1.0, gt=0, description="seconds between status.json updates")
    file_speed: float = Field(
        1.0, gt=0, description="a file source plays at this multiple of its frame rate (1: as if live)")
    engine: EngineConfig = Field(default_factory=EngineConfig)

    @field_validator("link", mode="before")
    @classmethod
    def _online_unless_said(cls, link: object) -> object:
        """``--set link.threshold=0.5`` (a ``link:`` section without ``mode``) links online, as reid live does."""
        if isinstance(link, dict) and "mode" not in link:
            return {**link, "mode": "online"}
        return link

    @field_validator("link")
    @classmethod
    def _links_online(cls, link: LinkConfig) -> LinkConfig:
        if link.mode != "online":
            raise ValueError("reid live gives each tracklet its id at once (link.mode: online); batch linking of a "
                             "stored period is reid gallery relink")
        return link
