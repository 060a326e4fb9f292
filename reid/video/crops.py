"""Choosing the few crops of a track worth embedding.

A track seen for a thousand frames must not cost a thousand embeddings or a thousand crops of memory, so
each track keeps only its best ``K`` crops in a min-heap. A crop's quality multiplies four factors in [0, 1]:
the detector's confidence, its size (small boxes carry little identity), its sharpness (variance of the
Laplacian, low for motion blur) and whether the box is cut by the frame border (a half vehicle is a poor
view). Sharpness costs a Laplacian, so it is only computed for crops that could still enter the heap.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

import numpy as np

FULL_SIZE = 96.0  # boxes whose geometric-mean side reaches this many pixels get the full size factor
SHARPNESS_HALF = 60.0  # Laplacian variance at which the sharpness factor is 0.5
BORDER_PENALTY = 0.3  # factor for a box that touches the frame border
BORDER_MARGIN = 2.0  # pixels


def box_prior(box: np.ndarray, conf: float, frame_shape: tuple[int, ...]) -> float:
    """Quality without sharpness (an upper bound of :func:`crop_quality`, cheap to compute)."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    h, w = frame_shape[:2]
    side = np.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0))
    size = min(1.0, side / FULL_SIZE)
    clipped = x1 <= BORDER_MARGIN or y1 <= BORDER_MARGIN or x2 >= w - BORDER_MARGIN or y2 >= h - BORDER_MARGIN
    return float(conf) * size * (BORDER_PENALTY if clipped else 1.0)


def sharpness(crop: np.ndarray) -> float:
    """Sharpness factor in [0, 1): Laplacian variance v mapped through v / (v + SHARPNESS_HALF)."""
    import cv2

    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    var = float(cv2.Laplacian(gray, cv2.CV_32F).var())
    return var / (var + SHARPNESS_HALF)


def cut_crop(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """Copy of the box region clipped to the image, or None when nothing of it is inside."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    return image[y1:y2, x1:x2].copy()


def crop_quality(image: np.ndarray, box: np.ndarray, conf: float) -> tuple[float, np.ndarray | None]:
    """Quality of the crop of ``box`` in ``image`` and the crop itself (None when the box is empty)."""
    crop = cut_crop(image, box)
    if crop is None:
        return 0.0, None
    return box_prior(box, conf, image.shape) * sharpness(crop), crop


@dataclass(order=True)
class KeptCrop:
    """One kept crop: ordered by quality (then arrival, so equal qualities never compare images)."""

    quality: float
    seq: int
    frame: int = field(compare=False)
    image: np.ndarray = field(compare=False, repr=False)


class BestCrops:
    """At most ``k`` crops of one track, the best by quality. Memory is bounded by ``k`` crops."""

    _counter = itertools.count()

    def __init__(self, k: int) -> None:
        if k < 1:
            raise ValueError("k must be at least 1")
        self.k = k
        self._heap: list[KeptCrop] = []

    def __len__(self) -> int:
        return len(self._heap)

    @property
    def floor(self) -> float:
        """Quality a new crop must beat to enter (minus infinity while not full)."""
        return self._heap[0].quality if len(self._heap) >= self.k else float("-inf")

    def offer(self, image: np.ndarray, box: np.ndarray, conf: float, frame: int) -> bool:
        """Consider the crop of ``box`` in frame ``frame``; returns True when it was kept."""
        if box_prior(box, conf, image.shape) <= self.floor:
            return False  # even perfectly sharp it would not enter: skip the Laplacian and the copy
        quality, crop = crop_quality(image, box, conf)
        if crop is None or quality <= self.floor:
            return False
        item = KeptCrop(quality, next(self._counter), frame, crop)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, item)
        else:
            heapq.heapreplace(self._heap, item)
        return True

    def absorb(self, crops: list[KeptCrop]) -> None:
        """Take crops kept by another piece of the same track; the best ``k`` of both stay."""
        for item in crops:
            if item.quality <= self.floor:
                continue
            if len(self._heap) < self.k:
                heapq.heappush(self._heap, item)
            else:
                heapq.heapreplace(self._heap, item)

    def items(self) -> list[KeptCrop]:
        """Kept crops, best first."""
        return sorted(self._heap, reverse=True)

    def clear(self) -> None:
        self._heap.clear()
