"""Tiny synthetic videos for the video tests: coloured vehicles moving on a static textured background.

Kept here (rather than using the full synthetic world) so these tests stay fast and exactly controllable:
each vehicle moves linearly, ground truth is written in MOTChallenge format, and an optional occluder hides
vehicles for a few frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

W, H = 320, 192


@dataclass
class Vehicle:
    vid: int
    x: float
    y: float
    vx: float
    vy: float
    w: int
    h: int
    colour: tuple[int, int, int]
    start: int = 0


def background(seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    bg = np.full((H, W, 3), 90, np.uint8)
    noise = rng.integers(0, 40, (H // 8, W // 8, 3), dtype=np.uint8)
    bg = cv2.add(bg, cv2.resize(noise, (W, H), interpolation=cv2.INTER_NEAREST))
    cv2.rectangle(bg, (0, 70), (W, 150), (60, 60, 60), -1)  # the road
    return bg


def default_vehicles() -> list[Vehicle]:
    return [
        Vehicle(1, 10, 80, 6.0, 0.0, 44, 24, (0, 0, 230)),
        Vehicle(2, 300, 118, -5.0, 0.0, 40, 22, (230, 80, 0), start=4),
    ]


def draw(
    bg: np.ndarray, vehicles: list[Vehicle], frame: int
) -> tuple[np.ndarray, list[tuple[int, tuple[float, ...]]]]:
    import cv2

    img = bg.copy()
    boxes = []
    for v in vehicles:
        if frame < v.start:
            continue
        t = frame - v.start
        x1, y1 = v.x + v.vx * t, v.y + v.vy * t
        x2, y2 = x1 + v.w, y1 + v.h
        if x2 < 0 or x1 > W:
            continue
        cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), v.colour, -1)
        cv2.rectangle(
            img, (int(x1) + 6, int(y1) + 4), (int(x1) + 16, int(y2) - 4), (20, 20, 20), -1
        )  # a window
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, W - 1), min(y2, H - 1)
        boxes.append((v.vid, (cx1, cy1, cx2 - cx1, cy2 - cy1)))
    return img, boxes


def write_video(
    path: Path,
    frames: int = 40,
    vehicles: list[Vehicle] | None = None,
    fps: float = 10.0,
    occluder: tuple[int, int] | None = None,
    gt_path: Path | None = None,
) -> Path:
    """Write an mp4 (and optionally MOT ground truth); ``occluder`` = (x1, x2) of a grey pillar drawn on top."""
    import cv2

    vehicles = vehicles if vehicles is not None else default_vehicles()
    bg = background()
    if occluder is not None:
        cv2.rectangle(bg, (occluder[0], 0), (occluder[1], H), (150, 150, 150), -1)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    lines = []
    for f in range(frames):
        img, boxes = draw(bg, vehicles, f)
        if occluder is not None:
            cv2.rectangle(img, (occluder[0], 0), (occluder[1], H), (150, 150, 150), -1)
        writer.write(img)
        for vid, (x, y, w, h) in boxes:
            lines.append(f"{f + 1},{vid},{x:.1f},{y:.1f},{w:.1f},{h:.1f},1,-1,-1,-1")
    writer.release()
    if gt_path is not None:
        gt_path.parent.mkdir(parents=True, exist_ok=True)
        gt_path.write_text("\n".join(lines) + "\n")
    return path


class ColourEmbedder:
    """Stand-in with the CropEmbedder interface: the mean colour of the crop's centre, L2-normalised.

    Same-coloured vehicles get the same vector, different colours different ones, which is what the
    rejoin logic needs to be tested without a trained network.
    """

    dim = 3
    identity = "colour-mean-test"

    def __init__(self) -> None:
        self.calls = 0
        self.crops = 0

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        self.calls += 1
        self.crops += len(crops)
        out = []
        for c in crops:
            h, w = c.shape[:2]
            centre = c[h // 4 : max(h // 4 + 1, 3 * h // 4), w // 4 : max(w // 4 + 1, 3 * w // 4)]
            v = centre.reshape(-1, 3).astype(np.float32).mean(axis=0) + 1e-3
            out.append(v / np.linalg.norm(v))
        return np.array(out, np.float32).reshape(-1, 3)
