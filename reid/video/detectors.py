"""Detectors behind one interface: ``detect(frames) -> list[Detections]``, one entry per frame.

Two implementations, chosen through the explicit :data:`DETECTORS` dict:

- ``yolo``: an Ultralytics network (``yolo11n.pt`` by default) restricted to the COCO vehicle classes; frames are
  run as one batch, in half precision on a GPU.
- ``motion``: background subtraction (a per-pixel Gaussian model with MOG2's thresholds and shadow test) with
  morphology and size filters. It needs no weights and suits fixed cameras (and the synthetic scenes, whose
  backgrounds are static). It is stateful: frames must come in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from reid.errors import ConfigError
from reid.types import Detections
from reid.video.background import GaussianBackground

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
    """Moving blobs from background subtraction, cleaned by morphology and filtered by size and shape.

    The background (:class:`reid.video.background.GaussianBackground`: one Gaussian per pixel with MOG2's
    thresholds and shadow test) starts from the per-pixel median of the first call's frames (the pipeline passes
    a batch), so vehicles present at the start do not leave "ghosts" behind when they drive off, and then learns
    at a fixed slow ``learning_rate``, only where the frame matches it, so a vehicle's uniform paint is not
    absorbed while it passes. A pixel that stays foreground for more than ``static_frames`` frames is copied into
    the background at once: that removes ghosts (the background revealed where a vehicle stood at the start) and
    vehicles that park, which a motion detector should not report anyway. A blob whose outline has clearly weaker
    edges in the frame than in the background image (``ghost_ratio``) is a ghost too: it is dropped and corrected
    at once; so is a blob whose region shows the background's own texture, only brighter or darker (the key
    frames of a compressed stream shift sharp edges). ``min_area``/``max_area`` are fractions of the frame area,
    so one setting works at any resolution; ``scale`` < 1 analyses frames at that fraction of their size (about scale² of the cost; boxes are mapped
    back). The score of a blob is how much of its box is foreground (a solid vehicle scores high, a ragged noise
    blob low), which gives ByteTrack's two-threshold association something meaningful to work with.
    """

    def __init__(
        self,
        min_area: float = 0.0006,
        max_area: float = 0.25,
        max_aspect: float = 6.0,
        var_threshold: float = 24.0,
        learning_rate: float = 0.002,
        static_frames: int = 30,
        ghost_ratio: float = 0.5,
        scale: float = 1.0,
        class_name: str = "car",
    ) -> None:
        import cv2

        self.names = {COCO_IDS[class_name]: class_name}
        self.cls = COCO_IDS[class_name]
        self.min_area, self.max_area, self.max_aspect = min_area, max_area, max_aspect
        self.var_threshold = var_threshold
        self.learning_rate = learning_rate
        self.static_frames = static_frames
        self.ghost_ratio = ghost_ratio
        self.shift_correlation = 0.95  # see _is_background_shift
        self.shift_texture = 6.0  # grey levels of spread a background region needs for that test
        self.scale = scale
        self._open = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        close = max(3, int(round(9 * scale)) // 2 * 2 + 1)  # 9 px of the full frame, odd
        self._close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close, close))
        self.model: GaussianBackground | None = None  # built from the first frames

    @property
    def background(self) -> np.ndarray | None:
        """The background image (uint8 BGR, at ``scale``) frames are compared with; None before the first frame."""
        return None if self.model is None else self.model.image

    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        images = [self._working_image(f) for f in frames]
        if images and (self.model is None or self.model.shape != images[0].shape):
            self._initialise(images)
        return [self._detect_one(image, frame.shape) for image, frame in zip(images, frames, strict=True)]

    def _initialise(self, images: Sequence[np.ndarray]) -> None:
        sample = list(images)[:: max(1, len(images) // 16)]
        median = np.median(np.stack(sample), axis=0) if len(sample) > 1 else sample[0]
        self.model = GaussianBackground(median, self.var_threshold, self.learning_rate, self.static_frames)

    def _working_image(self, frame: np.ndarray) -> np.ndarray:
        """The frame as the model sees it: 3-channel uint8, at ``scale`` of its size (area averaging)."""
        import cv2

        image = _bgr(frame)
        if self.scale == 1.0:
            return image
        h, w = image.shape[:2]
        size = (max(1, int(round(w * self.scale))), max(1, int(round(h * self.scale))))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)

    def _detect_one(self, frame: np.ndarray, full_shape: tuple[int, ...]) -> Detections:
        """Detections in ``frame`` (the working image), as boxes of the original frame of ``full_shape``."""
        import cv2

        model = self.model
        mask = model.apply(frame)  # foreground, shadows out; long-static pixels are background from now on
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        # outer contours are the 8-connected components; far cheaper than connectedComponentsWithStats
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        boxes, scores = [], []
        for contour in contours:
            x, y, bw, bh = cv2.boundingRect(contour)
            if not self._plausible(bw, bh, mask.shape):
                continue
            blob, corner = _blob(contour, mask, (x, y, bw, bh), margin=2)
            if self._is_ghost(frame, blob, corner) or self._is_background_shift(frame, blob, corner):
                # the "object" is where the background model is wrong: correct it at once
                model.set_background(frame, blob, corner)
                continue
            boxes.append((x, y, x + bw, y + bh))
            scores.append(min(1.0, 0.35 + 0.65 * cv2.countNonZero(blob) / float(bw * bh)))
        if not boxes:
            return Detections.empty()
        h, w = mask.shape
        to_frame = np.array([full_shape[1] / w, full_shape[0] / h] * 2, np.float32)
        return Detections(
            np.array(boxes, np.float32) * to_frame,
            np.array(scores, np.float32),
            np.full(len(boxes), self.cls),
        )

    def _plausible(self, bw: int, bh: int, shape: tuple[int, ...]) -> bool:
        """Whether a blob's box passes the size (fractions of the frame area) and aspect filters."""
        frame_area = float(shape[0] * shape[1])
        box_area = float(bw * bh)
        if box_area < self.min_area * frame_area or box_area > self.max_area * frame_area:
            return False
        return max(bw / bh, bh / bw) <= self.max_aspect

    def _is_ghost(self, frame: np.ndarray, blob: np.ndarray, corner: tuple[int, int]) -> bool:
        """A ghost's outline has edges in the background image but not in the frame; a vehicle's the reverse.
        ``blob`` is the blob's mask in the region of the frame whose top-left corner is ``corner`` (x, y)."""
        import cv2

        outline = cv2.morphologyEx(blob, cv2.MORPH_GRADIENT, self._open) > 0
        if not outline.any():
            return False
        x1, y1 = corner
        region = np.s_[y1 : y1 + blob.shape[0], x1 : x1 + blob.shape[1]]

        def edges(img: np.ndarray) -> float:
            # colour edges (strongest channel): a red car on grey asphalt has almost no edge in grey levels
            roi = img[region].astype(np.float32)
            mag = np.abs(cv2.Sobel(roi, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(roi, cv2.CV_32F, 0, 1))
            strongest = np.maximum(np.maximum(mag[..., 0], mag[..., 1]), mag[..., 2])
            return float(cv2.blur(strongest, (5, 5))[outline].mean())

        in_frame, in_background = edges(frame), edges(self.model.mean)
        return in_background > 20.0 and in_frame < self.ghost_ratio * in_background

    def _is_background_shift(self, frame: np.ndarray, blob: np.ndarray, corner: tuple[int, int]) -> bool:
        """Whether the blob's region of the frame shows the background's own structure, only brighter or darker.

        A compressed stream refreshes its picture every few frames (a key frame), and sharp edges of the scene
        (a pole against a wall, a tree trunk) then change by more than the noise the model allows, for as long
        as the refresh lasts: without this test they were tracked as small vehicles that stood still for
        seconds, and the linker joined real vehicles to them. A vehicle hides the background behind it, so
        its region correlates weakly with the background image (below 0.7 on the synthetic scenes, where such
        flicker scores above 0.99); a region whose background is nearly flat cannot tell and is kept.
        """
        import cv2

        x1, y1 = corner
        region = np.s_[y1 : y1 + blob.shape[0], x1 : x1 + blob.shape[1]]
        background = cv2.cvtColor(self.model.mean[region], cv2.COLOR_BGR2GRAY)
        if float(background.std()) < self.shift_texture:
            return False
        seen = cv2.cvtColor(frame[region], cv2.COLOR_BGR2GRAY).astype(np.float32)
        return _zncc(seen, background) >= self.shift_correlation


def _zncc(a: np.ndarray, b: np.ndarray) -> float:
    """Zero-mean normalised cross-correlation of two equally shaped arrays (0 where either is flat)."""
    a = a - a.mean()
    b = b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denom if denom > 0 else 0.0


def _blob(
    contour: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int], margin: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """The mask (uint8, 255 inside) of the component that ``contour`` bounds, in its box grown by ``margin``
    pixels (clipped to the frame), and that region's top-left corner (x, y). Holes stay out, as in the mask."""
    import cv2

    x, y, bw, bh = box
    h, w = mask.shape
    x1, y1, x2, y2 = max(0, x - margin), max(0, y - margin), min(w, x + bw + margin), min(h, y + bh + margin)
    blob = np.zeros((y2 - y1, x2 - x1), np.uint8)
    cv2.drawContours(blob, [contour], 0, 255, cv2.FILLED, offset=(-x1, -y1))
    return cv2.bitwise_and(blob, mask[y1:y2, x1:x2]), (x1, y1)


def _bgr(frame: np.ndarray) -> np.ndarray:
    """A contiguous 3-channel uint8 frame (a grey frame is expanded, as the background model is in colour)."""
    import cv2

    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(frame, np.uint8)


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
        var_threshold=m.var_threshold,
        learning_rate=m.learning_rate,
        static_frames=m.static_frames,
        scale=m.scale,
    )


DETECTORS: dict[str, Callable[[Any], Detector]] = {"yolo": _build_yolo, "motion": _build_motion}


def build_detector(config: Any) -> Detector:
    """Build the detector named by ``config.detector`` (a :class:`reid.video.config.TrackConfig`)."""
    if config.detector not in DETECTORS:
        raise ConfigError(
            f"unknown detector {config.detector!r}", f"--detector takes one of: {', '.join(DETECTORS)}"
        )
    return DETECTORS[config.detector](config)


def check_detector(config: Any) -> None:
    """Refuse an unknown detector or detector weights that are missing or would run code, without loading a
    network: a command calls it before it writes anything, where the detector itself is built later (in each
    camera's worker)."""
    if config.detector not in DETECTORS:
        build_detector(config)  # raises the unknown-detector error
    if config.detector == "yolo":
        from reid.weights import checked_detector_source

        checked_detector_source(config.det_weights)
