"""Detectors behind one interface: ``detect(frames) -> list[Detections]``, one entry per frame.

Two implementations, chosen through the explicit :data:`DETECTORS` dict:

- ``yolo``: an Ultralytics network (``yolo11n.pt`` by default) restricted to the COCO vehicle classes; frames are
  run as one batch, in half precision on a GPU.
- ``motion``: OpenCV MOG2 background subtraction with morphology and size filters. It needs no weights and suits
  fixed cameras (and the synthetic scenes, whose backgrounds are static). It is stateful: frames must come in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from reid.errors import ConfigError
from reid.types import Detections

VEHICLE_CLASSES = ("car", "motorcycle", "bus", "truck")
# COCO ids, used by detectors that have no classes of their own (motion reports every blob as a car).
COCO_IDS = {"person": 0, "bicycle": 1, "car": 2, "motorcycle": 3, "bus": 5, "train": 6, "truck": 7}


class Detector(Protocol):
    """What the pipeline needs from a detector."""

    names: dict[int, str]

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]: ...


class YoloDetector:
    """Ultralytics YOLO restricted to ``classes`` (names). Weights come through :func:`reid.weights.load_yolo`."""

    def __init__(
        self,
        weights: str = "yolo11n.pt",
        conf: float = 0.25,
        iou: float = 0.7,
        imgsz: int = 640,
        classes: Sequence[str] = VEHICLE_CLASSES,
        device: str = "auto",
    ) -> None:
        from reid.device import resolve_device
        from reid.weights import load_yolo

        self.model = load_yolo(weights)
        self.device = resolve_device(device)
        self.names: dict[int, str] = _class_names(self.model)
        by_name = {v: k for k, v in self.names.items()}
        unknown = [c for c in classes if c not in by_name]
        if unknown:
            raise ConfigError(
                f"unknown detector class name(s) {', '.join(map(repr, unknown))} for {weights}",
                f"--classes takes names from: {', '.join(self.names.values())}",
            )
        self.class_ids = [by_name[c] for c in classes] if classes else None
        self.conf, self.iou, self.imgsz = conf, iou, imgsz
        self.half = self.device.startswith("cuda")

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if not frames:
            return []
        results = self.model.predict(
            list(frames),
            conf=self.conf,
            iou=self.iou,
            imgsz=self.imgsz,
            classes=self.class_ids,
            device=self.device,
            half=self.half,
            verbose=False,
        )
        out = []
        for res in results:
            boxes = res.boxes
            if boxes is None or len(boxes) == 0:
                out.append(Detections.empty())
                continue
            out.append(
                Detections(
                    boxes.xyxy.cpu().numpy(),
                    boxes.conf.cpu().numpy(),
                    boxes.cls.cpu().numpy().astype(np.int64),
                )
            )
        return out


class MotionDetector:
    """Moving blobs from MOG2 background subtraction, cleaned by morphology and filtered by size and shape.

    The background model starts from the per-pixel median of the first call's frames (the pipeline passes a
    batch), so vehicles present at the start do not leave "ghosts" behind when they drive off, and then learns
    at a fixed slow ``learning_rate`` so a vehicle's uniform paint is not absorbed into the background while it
    passes. A pixel that stays foreground for more than ``static_frames`` frames is copied into the background
    at once: that removes ghosts (the background revealed where a vehicle stood at the start) and vehicles that
    park, which a motion detector should not report anyway. A blob whose outline has clearly weaker edges in
    the frame than in the background image (``ghost_ratio``) is a ghost too: it is dropped and corrected at once. ``min_area``/``max_area`` are fractions of the frame area, so one setting works at any resolution.
    The score of a blob is how much of its box is foreground (a solid vehicle scores high, a ragged noise blob
    low), which gives ByteTrack's two-threshold association something meaningful to work with.
    """

    def __init__(
        self,
        min_area: float = 0.0006,
        max_area: float = 0.25,
        max_aspect: float = 6.0,
        history: int = 500,
        var_threshold: float = 24.0,
        learning_rate: float = 0.002,
        static_frames: int = 30,
        ghost_ratio: float = 0.5,
        class_name: str = "car",
    ) -> None:
        import cv2

        self.names = {COCO_IDS[class_name]: class_name}
        self.cls = COCO_IDS[class_name]
        self.min_area, self.max_area, self.max_aspect = min_area, max_area, max_aspect
        self.learning_rate = learning_rate
        self._bg = cv2.createBackgroundSubtractorMOG2(
            history=history, varThreshold=var_threshold, detectShadows=True
        )
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
        self._initialised = False
        self.static_frames = static_frames
        self.ghost_ratio = ghost_ratio
        self._age: np.ndarray | None = None

    def _initialise(self, frames: Sequence[np.ndarray]) -> None:
        sample = list(frames)[:: max(1, len(frames) // 16)]
        median = np.median(np.stack(sample), axis=0).astype(np.uint8) if len(sample) > 1 else sample[0]
        self._bg.apply(median, learningRate=1.0)
        self._initialised = True

    def _absorb_static(self, frame: np.ndarray, mask: np.ndarray) -> None:
        """Count how long each pixel has been foreground; copy long-static pixels into the background model."""
        if self._age is None or self._age.shape != mask.shape:
            self._age = np.zeros(mask.shape, np.uint16)
        fg = mask > 0
        self._age[fg] += 1
        self._age[~fg] = 0
        static = self._age > self.static_frames
        if static.any():
            background = self._bg.getBackgroundImage()
            background[static] = frame[static]
            self._bg.apply(background, learningRate=1.0)  # restart the model from the corrected background
            self._age[static] = 0

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if frames and not self._initialised:
            self._initialise(frames)
        return [self._detect_one(frame) for frame in frames]

    def _detect_one(self, frame: np.ndarray) -> Detections:
        import cv2

        mask = self._bg.apply(frame, learningRate=self.learning_rate)
        _, mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)  # shadows are 127 in MOG2's mask
        self._absorb_static(frame, mask)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        h, w = mask.shape[:2]
        frame_area = float(h * w)
        boxes, scores, ghosts = [], [], []
        background = None
        for i in range(1, count):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            box_area = float(bw * bh)
            if box_area < self.min_area * frame_area or box_area > self.max_area * frame_area:
                continue
            if max(bw / bh, bh / bw) > self.max_aspect:
                continue
            if background is None:
                background = self._bg.getBackgroundImage()
            if self._is_ghost(frame, background, labels, i, (x, y, bw, bh)):
                ghosts.append(i)
                continue
            fill = area / box_area
            boxes.append((x, y, x + bw, y + bh))
            scores.append(min(1.0, 0.35 + 0.65 * fill))
        if ghosts and background is not None:
            # the "object" is where the background model is wrong: correct it at once
            where = np.isin(labels, ghosts)
            background[where] = frame[where]
            self._bg.apply(background, learningRate=1.0)
            if self._age is not None:
                self._age[where] = 0
        if not boxes:
            return Detections.empty()
        return Detections(
            np.array(boxes, np.float32), np.array(scores, np.float32), np.full(len(boxes), self.cls)
        )

    def _is_ghost(
        self, frame: np.ndarray, background: np.ndarray, labels: np.ndarray, label: int, box: tuple[int, ...]
    ) -> bool:
        """A ghost's outline has edges in the background image but not in the frame; a vehicle's the reverse."""
        import cv2

        x, y, bw, bh = box
        h, w = labels.shape
        x1, y1, x2, y2 = max(0, x - 2), max(0, y - 2), min(w, x + bw + 2), min(h, y + bh + 2)
        blob = (labels[y1:y2, x1:x2] == label).astype(np.uint8)
        outline = cv2.morphologyEx(blob, cv2.MORPH_GRADIENT, self._open) > 0
        if not outline.any():
            return False

        def edges(img: np.ndarray) -> float:
            # colour edges (strongest channel): a red car on grey asphalt has almost no edge in grey levels
            roi = img[y1:y2, x1:x2].astype(np.float32)
            mag = np.abs(cv2.Sobel(roi, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(roi, cv2.CV_32F, 0, 1))
            return float(cv2.blur(mag.max(axis=2), (5, 5))[outline].mean())

        in_frame, in_background = edges(frame), edges(background)
        return in_background > 20.0 and in_frame < self.ghost_ratio * in_background


def _class_names(model: Any) -> dict[int, str]:
    """The model's class names; a network built from a model .yaml (random weights) has only numbers, and an
    80-class one is taken to be a COCO network so that class names such as ``car`` keep working."""
    names = {int(k): str(v) for k, v in dict(model.names).items()}
    if len(names) == 80 and all(v.isdigit() for v in names.values()):
        from pathlib import Path

        import ultralytics
        import yaml

        coco = Path(ultralytics.__file__).parent / "cfg" / "datasets" / "coco.yaml"
        with open(coco, encoding="utf-8") as handle:
            names = {int(k): str(v) for k, v in yaml.safe_load(handle)["names"].items()}
    return names


def _build_yolo(config: Any) -> Detector:
    return YoloDetector(
        weights=config.det_weights,
        conf=config.conf,
        iou=config.iou,
        imgsz=config.imgsz,
        classes=config.classes,
        device=config.device,
    )


def _build_motion(config: Any) -> Detector:
    m = config.motion
    return MotionDetector(
        min_area=m.min_area,
        max_area=m.max_area,
        max_aspect=m.max_aspect,
        history=m.history,
        var_threshold=m.var_threshold,
        learning_rate=m.learning_rate,
        static_frames=m.static_frames,
    )


DETECTORS: dict[str, Callable[[Any], Detector]] = {"yolo": _build_yolo, "motion": _build_motion}


def build_detector(config: Any) -> Detector:
    """Build the detector named by ``config.detector`` (a :class:`reid.video.config.TrackConfig`)."""
    if config.detector not in DETECTORS:
        raise ConfigError(
            f"unknown detector {config.detector!r}", f"--detector takes one of: {', '.join(DETECTORS)}"
        )
    return DETECTORS[config.detector](config)
