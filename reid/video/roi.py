"""Region of interest: a stage between the detector and the tracker that drops detections outside a mask.

The mask is an image the size of the video frames (the AI City ``roi.jpg``), white where vehicles are to be
tracked and black elsewhere; grey levels above 127 count as white, so JPEG noise does not matter. A detection
is inside when the bottom centre of its box, the point where the vehicle stands on the road, is on a white
pixel (clipped to the frame). A detection outside never reaches the tracker, so it can start no track and
extend none. The synthetic CityFlow scene (:mod:`reid.synth.scene`) keeps its ground truth to the same region
with the same rule (:func:`inside`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reid.errors import InputError
from reid.types import Detections


def load_mask(path: str | Path) -> np.ndarray:
    """(H, W) bool mask of a region image (white = inside)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputError(f"region-of-interest mask {path} does not exist", "check the roi setting (--set roi=FILE)")
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise InputError(f"region-of-interest mask {path} is not an image OpenCV can read")
    mask = image > 127
    if not mask.any():
        raise InputError(f"region-of-interest mask {path} is black everywhere: no detection could be kept")
    return mask


def inside(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N,) bool: whether the bottom centre of each ``x1, y1, x2, y2`` box lies on a white pixel of ``mask``."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = mask.shape
    x = np.clip(np.floor((boxes[:, 0] + boxes[:, 2]) / 2), 0, w - 1).astype(np.int64)
    y = np.clip(np.floor(boxes[:, 3]) - (boxes[:, 3] == np.floor(boxes[:, 3])), 0, h - 1).astype(np.int64)
    return mask[y, x]


class RegionFilter:
    """A detector whose detections are those of ``detector`` inside the mask (same ``detect`` interface)."""

    def __init__(self, detector: Any, mask_path: str | Path) -> None:
        self.detector = detector
        self.path = Path(mask_path)
        self.mask = load_mask(self.path)
        self.names = getattr(detector, "names", {})
        self.dropped = 0  # detections removed so far

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        out = []
        for frame, dets in zip(frames, self.detector.detect(frames), strict=True):
            if frame.shape[:2] != self.mask.shape:
                raise InputError(
                    f"region-of-interest mask {self.path} is {self.mask.shape[1]}x{self.mask.shape[0]} pixels but "
                    f"the video frames are {frame.shape[1]}x{frame.shape[0]}",
                    "use the mask made for this camera (the same size as its video)")
            keep = inside(self.mask, dets.boxes)
            self.dropped += int((~keep).sum())
            out.append(Detections(dets.boxes[keep], dets.scores[keep], dets.classes[keep]))
        return out


def with_region(detector: Any, mask_path: str | Path | None) -> Any:
    """``detector`` behind a :class:`RegionFilter` when a mask is given, else ``detector`` itself."""
    return detector if mask_path is None else RegionFilter(detector, mask_path)
