"""The values that travel between stages. Each stage takes and returns these, never another stage's internals.

Shapes are documented on each field; arrays are NumPy, boxes are pixel coordinates ``x1, y1, x2, y2``.
Later stages may add fields with defaults; changing the meaning of a field is a breaking change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ImageRecord:
    """One labelled image of a re-ID dataset: the unit every dataset reader returns.

    ``label`` is the dataset's own vehicle id (not re-indexed); ``camera`` is -1 where unknown.
    """

    path: str
    label: int
    camera: int = -1


@dataclass
class Detections:
    """Detections of one frame: ``boxes`` (N, 4) float32 xyxy, ``scores`` (N,) float32, ``classes`` (N,) int64."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.classes = np.asarray(self.classes, dtype=np.int64).reshape(-1)
        if not (len(self.boxes) == len(self.scores) == len(self.classes)):
            raise ValueError("Detections: boxes, scores and classes must have the same length")

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))


@dataclass
class Tracklet:
    """A vehicle followed inside one camera, summarised when its track ends.

    ``feature`` is the L2-normalised (D,) float32 quality-weighted mean of its best crops' embeddings.
    Times are seconds since the camera's start time (``cameras.yaml``) or since the video's start.
    """

    camera: str
    track_id: int
    cls: int
    first_frame: int
    last_frame: int
    first_time: float
    last_time: float
    num_boxes: int
    crop_paths: list[str] = field(default_factory=list)
    feature: np.ndarray | None = None


@dataclass
class Identity:
    """A global identity: the tracklets, possibly of several cameras, that are one vehicle."""

    global_id: int
    members: list[tuple[str, int]] = field(default_factory=list)  # (camera, track_id)
