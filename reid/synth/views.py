"""One photograph of a vehicle: viewpoint, geometry, lighting, background clutter, occlusion, blur, noise, JPEG.

Re-ID images differ for reasons that have nothing to do with identity; this module adds those reasons so that
a network trained on the synthetic data must learn the vehicle, not the picture. Everything is drawn from the
``rng`` passed in, so a dataset writer that seeds one generator per image gets the same bytes on every run.
A :class:`CameraStyle` fixes some of these choices per camera (VeRi-776 style data), so a camera has a
recognisable look that a model must learn to ignore.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from reid.synth.vehicles import VehicleSpec, render_vehicle


@dataclass(frozen=True)
class CameraStyle:
    """What stays the same for every image of one camera: its look and its preferred viewpoints."""

    gain: float = 1.0  # overall brightness
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)  # BGR white balance
    view_weights: tuple[float, float, float] = (0.4, 0.4, 0.2)  # front, rear, side
    background_seed: int = 0
    blur: float = 0.0  # extra defocus sigma

    @classmethod
    def sample(cls, rng: np.random.Generator) -> CameraStyle:
        w = rng.dirichlet((1.2, 1.2, 1.0))
        return cls(
            gain=float(rng.uniform(0.7, 1.25)),
            cast=tuple(float(c) for c in rng.uniform(0.88, 1.12, 3)),  # type: ignore[arg-type]
            view_weights=tuple(float(x) for x in w),  # type: ignore[arg-type]
            background_seed=int(rng.integers(1 << 30)),
            blur=float(rng.choice([0.0, 0.0, 0.6, 1.0])),
        )


def cluttered_background(rng: np.random.Generator, width: int, height: int, base: tuple[int, int, int] | None = None) -> np.ndarray:
    """Road surface with lane paint and random street clutter (kerbs, poles, signs, foliage) around it."""
    if base is None:
        g = int(rng.integers(70, 150))
        base = (g + int(rng.integers(-10, 10)), g, g + int(rng.integers(-10, 10)))
    img = np.empty((height, width, 3), np.uint8)
    img[:] = base
    # vertical brightness gradient like sunlight falling on a road
    grad = np.linspace(float(rng.uniform(-25, 10)), float(rng.uniform(-10, 25)), height, dtype=np.float32)[:, None, None]
    img = np.clip(img.astype(np.float32) + grad, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(4, 10))):
        kind = int(rng.integers(4))
        color = tuple(int(c) for c in rng.integers(20, 235, 3))
        x, y = int(rng.integers(-width // 4, width)), int(rng.integers(-height // 4, height))
        if kind == 0:  # building / sign / kerb
            cv2.rectangle(img, (x, y), (x + int(rng.integers(8, width // 2)), y + int(rng.integers(6, height // 2))), color, -1)
        elif kind == 1:  # lane paint or cable
            cv2.line(img, (x, y), (int(rng.integers(width)), int(rng.integers(height))), color, int(rng.integers(1, 4)))
        elif kind == 2:  # foliage / bollard
            cv2.circle(img, (x, y), int(rng.integers(4, max(5, width // 6))), color, -1, cv2.LINE_AA)
        else:  # pole
            cv2.rectangle(img, (x, 0), (x + int(rng.integers(2, 6)), height), color, -1)
    return cv2.GaussianBlur(img, (3, 3), 0)


def _destination_quad(rng: np.random.Generator, sw: int, sh: int, width: int, height: int) -> np.ndarray:
    """Where the sprite's corners land: random scale, aspect, position, small rotation and perspective."""
    fill = rng.uniform(0.62, 0.95)
    aspect = sw / sh * rng.uniform(0.85, 1.18)
    if aspect * height > width:
        w = width * fill
        h = w / aspect
    else:
        h = height * fill
        w = h * aspect
    cx = width / 2 + rng.uniform(-0.5, 0.5) * (width - w) * 0.8
    cy = height / 2 + rng.uniform(-0.5, 0.5) * (height - h) * 0.8
    quad = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float32)
    quad += rng.uniform(-0.07, 0.07, (4, 2)).astype(np.float32) * np.array([w, h], np.float32)  # perspective
    a = np.deg2rad(rng.uniform(-6, 6))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    return quad @ rot.T + np.array([cx, cy], np.float32)


def _occlude(img: np.ndarray, rng: np.random.Generator) -> None:
    """Cover part of the vehicle: a pole, a sign, another vehicle's corner or the image border."""
    h, w = img.shape[:2]
    color = tuple(int(c) for c in rng.integers(10, 240, 3))
    kind = int(rng.integers(3))
    if kind == 0:
        x = int(rng.integers(0, w))
        cv2.rectangle(img, (x, 0), (x + int(rng.integers(3, max(4, w // 8))), h), color, -1)
    elif kind == 1:
        cw, ch = int(w * rng.uniform(0.15, 0.35)), int(h * rng.uniform(0.15, 0.35))
        corner = int(rng.integers(4))
        x = 0 if corner in (0, 3) else w - cw
        y = 0 if corner in (0, 1) else h - ch
        cv2.rectangle(img, (x, y), (x + cw, y + ch), color, -1)
    else:
        center = (int(rng.integers(w)), int(h - rng.integers(0, h // 4)))
        cv2.ellipse(img, center, (int(w * rng.uniform(0.1, 0.3)), int(h * rng.uniform(0.08, 0.2))), 0, 0, 360, color, -1)


def apply_lighting(img: np.ndarray, gain: float, cast: tuple[float, float, float], bias: float = 0.0) -> np.ndarray:
    """Scale brightness and white balance of a BGR image (float maths, clipped back to uint8)."""
    factors = np.asarray(cast, np.float32) * np.float32(gain)
    return np.clip(img.astype(np.float32) * factors + np.float32(bias), 0, 255).astype(np.uint8)


def sample_view(
    spec: VehicleSpec,
    rng: np.random.Generator,
    size: tuple[int, int] = (128, 128),
    style: CameraStyle | None = None,
    view: str | None = None,
) -> tuple[np.ndarray, int]:
    """One image of ``spec`` of ``size`` (width, height), and the JPEG quality to save it with.

    The view is drawn from the style's weights unless given. The vehicle fills 60-95 % of the frame with a
    random aspect, a small rotation and perspective, over a cluttered background.
    """
    style = style or CameraStyle()
    width, height = int(size[0]), int(size[1])
    if view is None:
        p = np.asarray(style.view_weights, np.float64)
        view = ("front", "rear", "side")[int(rng.choice(3, p=p / p.sum()))]
    sprite, mask = render_vehicle(spec, view, flip=view == "side" and bool(rng.random() < 0.5))
    sh, sw = mask.shape
    src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
    homography = cv2.getPerspectiveTransform(src, _destination_quad(rng, sw, sh, width, height))
    warped = cv2.warpPerspective(sprite, homography, (width, height), flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(mask, homography, (width, height), flags=cv2.INTER_LINEAR)

    bg_rng = np.random.default_rng([style.background_seed, int(rng.integers(1 << 30))]) if rng.random() < 0.7 else rng
    background = cluttered_background(bg_rng, width, height)
    a = (alpha.astype(np.float32) / 255.0)[..., None]
    img = (warped.astype(np.float32) * a + background.astype(np.float32) * (1 - a)).astype(np.uint8)

    if rng.random() < 0.3:
        _occlude(img, rng)
    img = apply_lighting(img, style.gain * float(rng.uniform(0.75, 1.25)),
                         tuple(c * float(rng.uniform(0.95, 1.05)) for c in style.cast),  # type: ignore[arg-type]
                         float(rng.uniform(-12, 12)))
    sigma = style.blur + (float(rng.uniform(0.3, 1.4)) if rng.random() < 0.4 else 0.0)
    if sigma > 0.1:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    if rng.random() < 0.15:  # motion blur along the direction of travel
        k = int(rng.integers(3, 7))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        img = cv2.filter2D(img, -1, kernel)
    noise_sigma = float(rng.uniform(0, 6))
    if noise_sigma > 0.5:
        img = np.clip(img.astype(np.float32) + rng.normal(0, noise_sigma, img.shape).astype(np.float32), 0, 255).astype(np.uint8)
    quality = int(rng.integers(45, 96))
    return img, quality


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    """JPEG bytes of ``img`` (libjpeg is deterministic, so equal inputs give equal files)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("OpenCV could not encode a JPEG image")
    return buf.tobytes()
