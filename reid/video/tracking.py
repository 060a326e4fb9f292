"""Per-camera tracking with Ultralytics' ByteTrack and BoT-SORT, fed with our own :class:`Detections`.

Ultralytics' trackers read a results object with ``.conf``, ``.cls``, ``.xywh`` (centre x, centre y, w, h),
``len()`` and boolean-mask indexing (``results[mask]``); BoT-SORT also takes the frame for its global motion
compensation. :class:`DetectionsAdapter` provides exactly that over NumPy arrays, so the Kalman filter and
the assignment stay Ultralytics' and nothing here re-implements them.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from reid.types import Detections
from reid.video.config import TrackerConfig


class DetectionsAdapter:
    """The slice of Ultralytics' ``Boxes`` interface its trackers use, over (N, 4) xyxy boxes."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy = np.asarray(xyxy, np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, np.float32).reshape(-1)
        self.cls = np.asarray(cls, np.float32).reshape(-1)

    @classmethod
    def from_detections(cls, det: Detections) -> DetectionsAdapter:
        return cls(det.boxes, det.scores, det.classes)

    @property
    def xywh(self) -> np.ndarray:
        xy = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        return np.concatenate([xy, wh], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: Any) -> DetectionsAdapter:
        return DetectionsAdapter(self.xyxy[index], self.conf[index], self.cls[index])


class CameraTracker:
    """One camera's tracker. ``update`` returns (M, 8) float32 rows ``x1, y1, x2, y2, track_id, score, cls, det``.

    ``det`` is the index of the detection the track was matched to in this frame, so callers can use the
    detector's box (the tracker's own box is the Kalman-smoothed one). Track ids start at 1 for every camera
    (Ultralytics keeps an id counter per tracker instance).
    """

    def __init__(self, config: TrackerConfig, frame_rate: float = 30.0) -> None:
        from ultralytics.trackers.bot_sort import BOTSORT
        from ultralytics.trackers.byte_tracker import BYTETracker

        args = SimpleNamespace(**config.model_dump())
        if args.gmc_method is None:
            args.gmc_method = "none"
        self.config = config
        self.uses_image = config.tracker_type == "botsort" and args.gmc_method != "none"
        tracker_cls = BOTSORT if config.tracker_type == "botsort" else BYTETracker
        try:
            self._tracker = tracker_cls(args=args, frame_rate=int(round(frame_rate)))
        except TypeError:  # newer Ultralytics dropped frame_rate
            self._tracker = tracker_cls(args=args)

    @property
    def track_buffer(self) -> int:
        """Frames a lost track survives inside the tracker (after that its id never comes back)."""
        return int(
            getattr(self._tracker, "max_frames_lost", None) or getattr(self._tracker, "max_time_lost", 30)
        )

    def update(self, detections: Detections, image: np.ndarray | None = None) -> np.ndarray:
        results = DetectionsAdapter.from_detections(detections)
        out = self._tracker.update(results, image if self.uses_image else None)
        out = np.asarray(out, np.float32)
        if out.size == 0:
            return np.zeros((0, 8), np.float32)
        return out[:, :8]
