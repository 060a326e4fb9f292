"""Schemas of the single-camera pipeline (``kind: track``) and of the tracker YAMLs (``kind: tracker``).

The tracker files keep Ultralytics' own key names, so a YAML tuned for ``yolo track`` can be reused here
after adding ``kind: tracker``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from reid.config import ConfigModel
from reid.engine.config import EngineConfig

TRACKER_NAMES = ("bytetrack", "botsort")


class TrackerConfig(ConfigModel):
    """Ultralytics ByteTrack / BoT-SORT settings (their key names, see ``configs/trackers/``)."""

    tracker_type: Literal["bytetrack", "botsort"] = "bytetrack"
    track_high_thresh: float = Field(0.25, ge=0, le=1, description="first-stage association score threshold")
    track_low_thresh: float = Field(0.1, ge=0, le=1, description="second-stage (low score) threshold")
    new_track_thresh: float = Field(0.25, ge=0, le=1, description="score needed to start a new track")
    track_buffer: int = Field(30, ge=1, description="frames a lost track is kept before it ends")
    match_thresh: float = Field(0.8, ge=0, le=1, description="association cost threshold")
    fuse_score: bool = True
    gmc_method: Literal["sparseOptFlow", "orb", "sift", "ecc", "none"] | None = Field(
        "sparseOptFlow", description="BoT-SORT global motion compensation (moving cameras)"
    )
    proximity_thresh: float = Field(0.5, ge=0, le=1)
    appearance_thresh: float = Field(0.8, ge=0, le=1)
    with_reid: bool = Field(
        False, description="Ultralytics' own ReID inside BoT-SORT; reid embeds tracklets itself"
    )
    model: str = "auto"

    @field_validator("with_reid")
    @classmethod
    def _no_builtin_reid(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "with_reid must be false: tracklets are embedded by reid's own network (--reid-weights)"
            )
        return value


class MotionConfig(ConfigModel):
    """Background-subtraction detector settings (areas are fractions of the frame area)."""

    min_area: float = Field(0.0006, gt=0, lt=1)
    max_area: float = Field(0.25, gt=0, le=1)
    max_aspect: float = Field(6.0, ge=1)
    history: int = Field(
        500,
        ge=10,
        description="no effect, accepted so that older configs load: the background learns at learning_rate",
    )
    var_threshold: float = Field(
        24.0, gt=0, description="foreground: squared colour distance to the background over its variance"
    )
    learning_rate: float = Field(
        0.002, gt=0, le=1, description="background update rate per frame (slow: vehicles are not absorbed)"
    )
    static_frames: int = Field(30, ge=1, description="frames after which a still blob becomes background")
    scale: float = Field(
        1.0,
        gt=0,
        le=1,
        description="frames are analysed at this fraction of their size (boxes are mapped back): cost ~ scale^2",
    )


class RejoinConfig(ConfigModel):
    """Joining tracklets of one camera that an occlusion broke in two."""

    enabled: bool = True
    max_gap: float = Field(3.0, gt=0, description="longest gap in seconds between the two pieces")
    max_distance: float = Field(
        2.5,
        gt=0,
        description="farthest the second piece may start from where the first was heading, in box sizes",
    )
    min_similarity: float = Field(
        0.6, ge=-1, le=1, description="cosine similarity needed between the two vectors"
    )


class TrackConfig(ConfigModel):
    """Everything ``reid track`` does for one camera: detector, tracker, crops, re-ID, outputs."""

    detector: Literal["yolo", "motion"] = "yolo"
    det_weights: str = Field(
        "yolo11n.pt", description="Ultralytics weights (.pt) or a model .yaml (random weights)"
    )
    conf: float = Field(0.25, ge=0, le=1, description="detector confidence threshold")
    iou: float = Field(0.7, ge=0, le=1, description="detector NMS IoU threshold")
    imgsz: int = Field(640, ge=32, description="detector input size")
    classes: list[str] = Field(default_factory=lambda: ["car", "motorcycle", "bus", "truck"])
    tracker: str = Field("bytetrack", description="bytetrack, botsort, or the path of a tracker YAML")
    vid_stride: int = Field(1, ge=1, description="process every n-th frame")
    fps: float | None = Field(
        None, gt=0, description="frame rate of a frame folder (or to override the container's)"
    )
    reconnects: int = Field(3, ge=0, description="how often a dropped stream is reopened before stopping")
    crops_per_track: int = Field(
        4, ge=1, le=256, description="best crops kept (and embedded) per track; embedding cost is tracks x K"
    )
    min_boxes: int = Field(3, ge=1, description="tracks with fewer boxes are dropped as noise")
    rejoin: RejoinConfig = Field(default_factory=RejoinConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    det_batch_size: int = Field(8, ge=1, description="frames per detector call")
    embed_batch_size: int = Field(64, ge=1, description="crops per embedding call")
    device: str = "auto"
    embed: bool = Field(True, description="embed tracklets with the re-ID network (false: tracking only)")
    reid_weights: str | None = Field(None, description="a `reid train` checkpoint; none = ImageNet backbone")
    reid_arch: str = Field("resnet50", description="ImageNet backbone used when reid_weights is not set")
    roi: str | None = Field(
        None,
        description="region-of-interest mask image (white = inside, the frame size): detections whose bottom "
        "centre is outside are dropped before tracking; a CityFlow camera's roi.jpg sets it",
    )
    save_crops: bool = False
    save_video: bool = False
    trail: int = Field(
        20, ge=0, description="length of the trail drawn behind each box in the annotated video"
    )
    engine: EngineConfig = Field(
        default_factory=EngineConfig, description="folder of cameras: which engine runs the cameras (local, ray)")

    @field_validator("tracker")
    @classmethod
    def _tracker_known(cls, value: str) -> str:
        if value not in TRACKER_NAMES and not value.endswith((".yaml", ".yml")):
            raise ValueError(f"tracker must be one of {', '.join(TRACKER_NAMES)} or a .yaml file")
        return value

    @field_validator("device")
    @classmethod
    def _device_spelled(cls, value: str) -> str:
        """The spelling is checked at once, even when no network will use the device (tracking with the motion
        detector only); whether CUDA is there is checked where a network is put on it."""
        name = value.strip().lower()
        if not (name in ("auto", "cpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit())):
            raise ValueError(f"unknown device {value!r}: valid values are auto, cpu, cuda, cuda:N")
        return name


def load_tracker_config(name: str) -> TrackerConfig:
    """The tracker settings for ``bytetrack``/``botsort`` (built-in YAML) or a user YAML path."""
    from reid.config import builtin_config, load_config

    path = builtin_config(f"trackers/{name}.yaml") if name in TRACKER_NAMES else Path(name)
    return load_config(TrackerConfig, path)
