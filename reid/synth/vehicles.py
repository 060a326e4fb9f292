"""Vehicle identities as parameter sets, and an OpenCV renderer that draws them from the front, rear or side.

An identity is a :class:`VehicleSpec`: body type, colours, paint pattern, roof, wheels, number plate and a decal.
Rendering is a pure function of the spec and the viewpoint, so one identity looks the same in every image and
every camera; what varies per image (scale, lighting, blur, occlusion) is added later by :mod:`reid.synth.views`
or the scene renderer. :func:`sample_vehicles` deliberately produces near-duplicates (same body and colour,
different plate or decal) because telling those apart is what makes re-identification hard.
"""

from __future__ import annotations

import functools
import string
from dataclasses import dataclass, replace

import cv2
import numpy as np

BODY_TYPES: tuple[str, ...] = ("sedan", "suv", "van", "bus", "truck", "motorcycle")
# Sampling weights: cars dominate real traffic, buses and motorcycles are rarer.
BODY_WEIGHTS: tuple[float, ...] = (0.36, 0.24, 0.14, 0.07, 0.11, 0.08)
VIEWS: tuple[str, ...] = ("front", "rear", "side")
PATTERNS: tuple[str, ...] = ("plain", "two_tone", "stripes")
ROOFS: tuple[str, ...] = ("none", "rack", "sunroof", "lightbar")
WHEELS: tuple[str, ...] = ("plain", "spoked", "hubcap")
DECALS: tuple[str, ...] = ("none", "circle", "star", "band", "logo")

# Common car paints (BGR) with how often they occur; near-duplicates come naturally from the popular ones.
PAINTS: dict[str, tuple[tuple[int, int, int], float]] = {
    "white": ((235, 235, 232), 0.22),
    "black": ((28, 28, 30), 0.18),
    "silver": ((190, 188, 185), 0.14),
    "grey": ((120, 120, 122), 0.11),
    "red": ((40, 40, 190), 0.09),
    "blue": ((170, 90, 30), 0.08),
    "navy": ((90, 40, 20), 0.04),
    "green": ((60, 120, 40), 0.04),
    "yellow": ((40, 200, 235), 0.03),
    "orange": ((30, 130, 240), 0.02),
    "brown": ((40, 70, 110), 0.03),
    "beige": ((160, 195, 215), 0.02),
}
ACCENTS: tuple[tuple[int, int, int], ...] = (
    (245, 245, 245), (20, 20, 20), (30, 30, 200), (200, 120, 20), (30, 200, 230), (40, 160, 40), (160, 60, 160),
)

# Canonical side-view size (length, height in pixels) of each body type; front/rear views use ``width``.
_DIMS: dict[str, tuple[int, int, int]] = {  # length, height, width
    "sedan": (200, 66, 88),
    "suv": (205, 86, 94),
    "van": (215, 100, 96),
    "bus": (330, 122, 110),
    "truck": (300, 120, 106),
    "motorcycle": (112, 82, 40),
}


@dataclass(frozen=True)
class VehicleSpec:
    """Everything that makes one vehicle look like itself. Frozen and hashable, so renders can be cached."""

    vehicle_id: int
    body: str
    color: tuple[int, int, int]
    color_name: str
    pattern: str
    accent: tuple[int, int, int]
    roof: str
    wheel: str
    plate: str
    decal: str
    decal_color: tuple[int, int, int]
    decal_pos: float  # 0..1 along the side, where the decal sits
    near_duplicate_of: int | None = None

    @property
    def length(self) -> int:
        return _DIMS[self.body][0]


def _plate_text(rng: np.random.Generator) -> str:
    letters = string.ascii_uppercase
    digits = string.digits
    pick = lambda pool, n: "".join(pool[int(i)] for i in rng.integers(0, len(pool), n))  # noqa: E731
    return f"{pick(letters, 2)}{pick(digits, 3)}{pick(letters, 2)}"


def _jitter_color(rng: np.random.Generator, color: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    delta = rng.integers(-amount, amount + 1, 3)
    return tuple(int(np.clip(c + d, 0, 255)) for c, d in zip(color, delta, strict=True))  # type: ignore[return-value]


def sample_vehicle(vehicle_id: int, rng: np.random.Generator) -> VehicleSpec:
    """Draw one random identity."""
    body = BODY_TYPES[int(rng.choice(len(BODY_TYPES), p=np.asarray(BODY_WEIGHTS) / sum(BODY_WEIGHTS)))]
    names = list(PAINTS)
    weights = np.asarray([PAINTS[n][1] for n in names])
    color_name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    decal = DECALS[int(rng.choice(len(DECALS), p=[0.4, 0.15, 0.15, 0.15, 0.15]))]
    return VehicleSpec(
        vehicle_id=vehicle_id,
        body=body,
        color=_jitter_color(rng, PAINTS[color_name][0], 10),
        color_name=color_name,
        pattern=PATTERNS[int(rng.choice(len(PATTERNS), p=[0.6, 0.22, 0.18]))],
        accent=ACCENTS[int(rng.integers(len(ACCENTS)))],
        roof=ROOFS[int(rng.choice(len(ROOFS), p=[0.55, 0.2, 0.15, 0.1]))],
        wheel=WHEELS[int(rng.integers(len(WHEELS)))],
        plate=_plate_text(rng),
        decal=decal,
        decal_color=ACCENTS[int(rng.integers(len(ACCENTS)))],
        decal_pos=float(rng.uniform(0.25, 0.75)),
    )


def near_duplicate(spec: VehicleSpec, vehicle_id: int, rng: np.random.Generator) -> VehicleSpec:
    """Same body, colour and pattern as ``spec``; a different plate, and often a different decal or roof."""
    changes: dict[str, object] = {"vehicle_id": vehicle_id, "plate": _plate_text(rng), "near_duplicate_of": spec.vehicle_id}
    if rng.random() < 0.6:
        others = [d for d in DECALS if d != spec.decal]
        changes["decal"] = others[int(rng.integers(len(others)))]
        changes["decal_pos"] = float(rng.uniform(0.25, 0.75))
    if rng.random() < 0.3:
        others = [r for r in ROOFS if r != spec.roof]
        changes["roof"] = others[int(rng.integers(len(others)))]
    if rng.random() < 0.3:
        others = [w for w in WHEELS if w != spec.wheel]
        changes["wheel"] = others[int(rng.integers(len(others)))]
    return replace(spec, **changes)  # type: ignore[arg-type]


def sample_vehicles(
    n: int, seed: int = 0, near_duplicate_rate: float = 0.3, first_id: int = 1
) -> list[VehicleSpec]:
    """``n`` identities with ids ``first_id..first_id+n-1``, deterministic for ``seed``.

    About ``near_duplicate_rate`` of them copy an earlier identity's body, colour and pattern and differ only in
    plate, decal, roof or wheels, so a model must look at details to tell them apart.
    """
    rng = np.random.default_rng([int(seed), 7919])
    specs: list[VehicleSpec] = []
    for i in range(n):
        vid = first_id + i
        if specs and rng.random() < near_duplicate_rate:
            source = specs[int(rng.integers(len(specs)))]
            if source.near_duplicate_of is not None:  # chain to the original so groups stay readable
                source = next(s for s in specs if s.vehicle_id == source.near_duplicate_of)
            specs.append(near_duplicate(source, vid, rng))
        else:
            specs.append(sample_vehicle(vid, rng))
    return specs


# --------------------------------------------------------------------------------------------------- drawing

_GLASS = (95, 70, 55)
_TYRE = (25, 25, 25)
_RIM = (150, 150, 150)
_DARK = (45, 45, 45)


def _darker(color: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(c * f) for c in color)  # type: ignore[return-value]


class _Canvas:
    """A BGR image and its coverage mask drawn together, so the sprite's silhouette is exact."""

    def __init__(self, w: int, h: int) -> None:
        self.img = np.zeros((h, w, 3), np.uint8)
        self.mask = np.zeros((h, w), np.uint8)

    def poly(self, pts: list[tuple[float, float]], color: tuple[int, int, int]) -> None:
        arr = np.round(np.asarray(pts, np.float32)).astype(np.int32)
        cv2.fillPoly(self.img, [arr], color, cv2.LINE_AA)
        cv2.fillPoly(self.mask, [arr], 255, cv2.LINE_AA)

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: tuple[int, int, int]) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], color)

    def circle(self, c: tuple[float, float], r: float, color: tuple[int, int, int]) -> None:
        center = (int(round(c[0])), int(round(c[1])))
        cv2.circle(self.img, center, max(1, int(round(r))), color, -1, cv2.LINE_AA)
        cv2.circle(self.mask, center, max(1, int(round(r))), 255, -1, cv2.LINE_AA)

    def paint_within(self, region: np.ndarray, color: tuple[int, int, int]) -> None:
        """Recolour pixels of ``region`` (bool mask) that are already covered: paint jobs never leave the body."""
        sel = region & (self.mask > 0)
        self.img[sel] = color


def _wheel(cv: _Canvas, c: tuple[float, float], r: float, style: str) -> None:
    cv.circle(c, r, _TYRE)
    if style == "plain":
        cv.circle(c, r * 0.55, _RIM)
    elif style == "hubcap":
        cv.circle(c, r * 0.62, (215, 215, 215))
        cv.circle(c, r * 0.22, _DARK)
    else:  # spoked
        cv.circle(c, r * 0.6, (170, 170, 175))
        for k in range(5):
            a = k * 2 * np.pi / 5
            p = (int(c[0] + np.cos(a) * r * 0.58), int(c[1] + np.sin(a) * r * 0.58))
            cv2.line(cv.img, (int(c[0]), int(c[1])), p, _DARK, 2, cv2.LINE_AA)


def _decal(cv: _Canvas, spec: VehicleSpec, cx: float, cy: float, size: float) -> None:
    color = spec.decal_color
    if spec.decal == "none":
        return
    if spec.decal == "circle":
        cv2.circle(cv.img, (int(cx), int(cy)), int(size * 0.5), color, -1, cv2.LINE_AA)
        cv2.circle(cv.img, (int(cx), int(cy)), int(size * 0.25), spec.color, -1, cv2.LINE_AA)
    elif spec.decal == "star":
        pts = []
        for k in range(10):
            rad = size * (0.55 if k % 2 == 0 else 0.22)
            a = -np.pi / 2 + k * np.pi / 5
            pts.append((cx + rad * np.cos(a), cy + rad * np.sin(a)))
        cv2.fillPoly(cv.img, [np.round(np.asarray(pts)).astype(np.int32)], color, cv2.LINE_AA)
    elif spec.decal == "band":
        cv2.rectangle(cv.img, (int(cx - size), int(cy - size * 0.18)), (int(cx + size), int(cy + size * 0.18)), color, -1)
    elif spec.decal == "logo":
        cv2.rectangle(cv.img, (int(cx - size * 0.7), int(cy - size * 0.35)), (int(cx + size * 0.7), int(cy + size * 0.35)), color, -1)
        cv2.putText(cv.img, spec.plate[:2], (int(cx - size * 0.55), int(cy + size * 0.22)), cv2.FONT_HERSHEY_SIMPLEX,
                    size / 40.0, spec.color, max(1, int(size / 20)), cv2.LINE_AA)


def _plate(cv: _Canvas, spec: VehicleSpec, cx: float, y: float, w: float) -> None:
    h = w * 0.3
    x0, y0 = int(cx - w / 2), int(y)
    cv2.rectangle(cv.img, (x0, y0), (int(x0 + w), int(y0 + h)), (235, 240, 240), -1)
    cv2.rectangle(cv.img, (x0, y0), (int(x0 + w), int(y0 + h)), (20, 20, 20), 1)
    scale = w / 140.0
    cv2.putText(cv.img, spec.plate, (x0 + max(1, int(w * 0.05)), int(y0 + h * 0.78)), cv2.FONT_HERSHEY_SIMPLEX,
                scale, (15, 15, 15), max(1, int(round(scale * 1.6))), cv2.LINE_AA)


def _paint_pattern(cv: _Canvas, spec: VehicleSpec, body: np.ndarray, top: float, bottom: float, vertical: bool) -> None:
    """Two-tone (lower part in the accent colour) or stripes, restricted to the painted body."""
    h, w = body.shape
    ys = np.arange(h)[:, None]
    xs = np.arange(w)[None, :]
    if spec.pattern == "two_tone":
        cut = top + (bottom - top) * 0.55
        cv.img[body & (ys > cut)] = spec.accent
    elif spec.pattern == "stripes":
        if vertical:  # racing stripes over bonnet/boot, seen from front or rear
            mid = w / 2
            region = (np.abs(xs - mid + w * 0.06) < w * 0.03) | (np.abs(xs - mid - w * 0.06) < w * 0.03)
            cv.img[body & np.broadcast_to(region, body.shape)] = spec.accent
        else:
            y0 = top + (bottom - top) * 0.45
            region = (ys > y0) & (ys < y0 + (bottom - top) * 0.12)
            cv.img[body & np.broadcast_to(region, body.shape)] = spec.accent


def _roof(cv: _Canvas, spec: VehicleSpec, x0: float, x1: float, y: float) -> None:
    if spec.roof == "rack":
        cv.rect(x0 + 4, y - 7, x1 - 4, y - 4, (60, 60, 60))
        for x in np.linspace(x0 + 8, x1 - 8, 3):
            cv.rect(x - 1.5, y - 5, x + 1.5, y + 1, (60, 60, 60))
    elif spec.roof == "sunroof":
        cv.rect(x0 + (x1 - x0) * 0.3, y - 3, x0 + (x1 - x0) * 0.7, y + 1, (40, 30, 25))
    elif spec.roof == "lightbar":
        mid = (x0 + x1) / 2
        cv.rect(mid - (x1 - x0) * 0.2, y - 8, mid + (x1 - x0) * 0.2, y + 1, (30, 190, 240))


def _side(spec: VehicleSpec) -> _Canvas:
    """Profile facing right. Returned canvas is padded so roof features and wheels fit."""
    L, H, _ = _DIMS[spec.body]
    pad = 10
    cv = _Canvas(L + 2 * pad, H + 2 * pad)
    x0, x1 = pad, pad + L
    ground = pad + H
    r = {"bus": 17, "truck": 17, "van": 15, "suv": 16, "sedan": 14, "motorcycle": 17}[spec.body]
    wy = ground - r
    if spec.body == "motorcycle":
        _wheel(cv, (x0 + r, wy), r, spec.wheel)
        _wheel(cv, (x1 - r, wy), r, spec.wheel)
        cv.poly([(x0 + r, wy - 4), (x0 + L * 0.35, wy - r * 1.6), (x0 + L * 0.7, wy - r * 1.7), (x1 - r, wy - 2),
                 (x0 + L * 0.55, wy + 2)], spec.color)
        cv.poly([(x0 + L * 0.38, wy - r * 1.6), (x0 + L * 0.55, wy - r * 1.6), (x0 + L * 0.52, pad + 20),
                 (x0 + L * 0.42, pad + 20)], (60, 50, 45))  # rider
        cv.circle((x0 + L * 0.48, pad + 12), 10, spec.accent)  # helmet
        body = cv.mask > 0
        _decal(cv, spec, x0 + L * 0.55, wy - r * 1.3, 8)
        return cv
    if spec.body in ("sedan", "suv"):
        belt = ground - H * (0.55 if spec.body == "sedan" else 0.5)
        roof_y = pad + (4 if spec.body == "suv" else 0)
        cv.poly([(x0, ground - r * 0.6), (x0 + 4, belt), (x1 - 2, belt + 4), (x1, ground - r * 0.6),
                 (x1 - 6, ground - 4), (x0 + 4, ground - 4)], spec.color)
        rear_c = x0 + L * (0.12 if spec.body == "suv" else 0.22)
        front_c = x0 + L * (0.7 if spec.body == "suv" else 0.68)
        cv.poly([(x0 + L * 0.05, belt + 1), (rear_c, roof_y), (front_c, roof_y), (x0 + L * 0.82, belt + 1)], spec.color)
        cv.poly([(rear_c + 5, roof_y + 5), (front_c - 2, roof_y + 5), (x0 + L * 0.78, belt - 1),
                 (x0 + L * 0.12, belt - 1)], _GLASS)
        cv.rect((rear_c + front_c) / 2 - 2, roof_y + 4, (rear_c + front_c) / 2 + 2, belt, spec.color)
        top, roof_x0, roof_x1 = roof_y, rear_c, front_c
    elif spec.body == "van":
        cv.poly([(x0, ground - 6), (x0, pad + 2), (x0 + L * 0.72, pad + 2), (x1 - 4, pad + H * 0.45),
                 (x1, ground - 6), (x1 - 4, ground - 3), (x0 + 3, ground - 3)], spec.color)
        cv.poly([(x0 + L * 0.74, pad + 8), (x1 - 9, pad + H * 0.45), (x0 + L * 0.74, pad + H * 0.45)], _GLASS)
        for k in range(2):
            cx = x0 + L * (0.18 + 0.24 * k)
            cv.rect(cx, pad + 10, cx + L * 0.18, pad + H * 0.4, _GLASS)
        top, roof_x0, roof_x1 = pad + 2, x0 + 6, x0 + L * 0.7
    elif spec.body == "bus":
        cv.rect(x0, pad + 2, x1, ground - 4, spec.color)
        n = 6
        for k in range(n):
            cx = x0 + 10 + k * (L - 30) / n
            cv.rect(cx, pad + 14, cx + (L - 30) / n - 6, pad + H * 0.42, _GLASS)
        cv.rect(x1 - 22, pad + 14, x1 - 4, ground - 14, _GLASS)  # door
        top, roof_x0, roof_x1 = pad + 2, x0 + 10, x1 - 10
    else:  # truck: cab at the front, cargo box behind
        cab = L * 0.26
        cv.rect(x0, pad, x1 - cab - 4, ground - 12, spec.accent if spec.pattern != "plain" else (200, 200, 200))
        cv.poly([(x1 - cab, pad + H * 0.2), (x1 - cab * 0.35, pad + H * 0.2), (x1, pad + H * 0.5),
                 (x1, ground - 6), (x1 - cab, ground - 6)], spec.color)
        cv.poly([(x1 - cab * 0.8, pad + H * 0.26), (x1 - cab * 0.38, pad + H * 0.26), (x1 - 6, pad + H * 0.48),
                 (x1 - cab * 0.8, pad + H * 0.48)], _GLASS)
        cv.rect(x0, ground - 14, x1, ground - 8, _DARK)  # chassis
        top, roof_x0, roof_x1 = pad, x0 + 6, x1 - cab - 10
    body = (cv.mask > 0) & ~np.all(cv.img == _GLASS, axis=2)
    if spec.body != "truck":
        _paint_pattern(cv, spec, body, top, ground, vertical=False)
    _roof(cv, spec, roof_x0, roof_x1, top)
    # lights, then wheels over the body
    cv.rect(x1 - 5, ground - H * 0.42, x1, ground - H * 0.32, (200, 230, 240))
    cv.rect(x0, ground - H * 0.42, x0 + 4, ground - H * 0.32, (40, 40, 200))
    _decal(cv, spec, x0 + L * spec.decal_pos, ground - H * 0.3, H * 0.16)
    axles = [x0 + r + 10, x1 - r - 12]
    if spec.body in ("bus", "truck"):
        axles.insert(1, x0 + r * 3 + 12) if spec.body == "truck" else None
    for ax in axles:
        cv.circle((ax, wy), r + 3, _darker(spec.color, 0.35))  # wheel arch
        _wheel(cv, (ax, wy), r, spec.wheel)
    return cv


def _end(spec: VehicleSpec, front: bool) -> _Canvas:
    """Front or rear view: plate, lights, windscreen; roof features on top."""
    L, H, W = _DIMS[spec.body]
    pad = 10
    cv = _Canvas(W + 2 * pad, H + 2 * pad)
    x0, x1 = pad, pad + W
    ground = pad + H
    cx = (x0 + x1) / 2
    if spec.body == "motorcycle":
        cv.rect(cx - 5, ground - 30, cx + 5, ground, _TYRE)
        cv.poly([(cx - 14, ground - 30), (cx + 14, ground - 30), (cx + 10, ground - 55), (cx - 10, ground - 55)], spec.color)
        cv.poly([(cx - 12, ground - 55), (cx + 12, ground - 55), (cx + 9, pad + 20), (cx - 9, pad + 20)], (60, 50, 45))
        cv.circle((cx, pad + 12), 10, spec.accent)
        light = (200, 240, 250) if front else (40, 40, 210)
        cv.circle((cx, ground - 42), 4, light)
        _plate(cv, spec, cx, ground - 28, 26)
        return cv
    shoulder = pad + {"sedan": 0.45, "suv": 0.42, "van": 0.3, "bus": 0.08, "truck": 0.2}[spec.body] * H
    roof_y = pad + {"sedan": 2, "suv": 4, "van": 2, "bus": 2, "truck": 0}[spec.body]
    inset = {"sedan": 0.14, "suv": 0.08, "van": 0.06, "bus": 0.02, "truck": 0.05}[spec.body] * W
    # tyres peek out below the body
    cv.rect(x0 + 4, ground - 14, x0 + 18, ground, _TYRE)
    cv.rect(x1 - 18, ground - 14, x1 - 4, ground, _TYRE)
    cv.poly([(x0, ground - 8), (x0 + 2, shoulder), (x0 + inset, roof_y), (x1 - inset, roof_y), (x1 - 2, shoulder),
             (x1, ground - 8)], spec.color if spec.body != "truck" or front else (200, 200, 200))
    glass_bottom = shoulder + (0 if spec.body == "bus" else 2)
    glass_top = roof_y + (H * 0.12 if spec.body == "bus" else 6)
    if spec.body == "bus":
        glass_bottom = pad + H * 0.45
    if spec.body != "truck" or front:
        cv.poly([(x0 + inset + 5, glass_top), (x1 - inset - 5, glass_top), (x1 - 7, glass_bottom), (x0 + 7, glass_bottom)],
                _GLASS)
    body = (cv.mask > 0) & ~np.all(cv.img == _GLASS, axis=2) & ~np.all(cv.img == _TYRE, axis=2)
    _paint_pattern(cv, spec, body, roof_y, ground, vertical=spec.pattern == "stripes")
    _roof(cv, spec, x0 + inset, x1 - inset, roof_y)
    light_y = glass_bottom + (ground - glass_bottom) * 0.3
    if front:
        for lx in (x0 + 6, x1 - 22):
            cv2.rectangle(cv.img, (int(lx), int(light_y)), (int(lx + 16), int(light_y + 7)), (205, 235, 245), -1)
        cv2.rectangle(cv.img, (int(cx - W * 0.2), int(light_y + 1)), (int(cx + W * 0.2), int(light_y + 10)), _DARK, -1)
    else:
        for lx in (x0 + 4, x1 - 16):
            cv2.rectangle(cv.img, (int(lx), int(light_y)), (int(lx + 12), int(light_y + 9)), (40, 40, 200), -1)
        if spec.decal != "none":
            _decal(cv, spec, x0 + W * 0.25, glass_bottom - (glass_bottom - glass_top) * 0.3, W * 0.09)
    _plate(cv, spec, cx, ground - (ground - glass_bottom) * 0.42, W * 0.42)
    if front and spec.decal in ("band", "logo"):
        _decal(cv, spec, cx, glass_top + 4, W * 0.08)
    return cv


@functools.lru_cache(maxsize=2048)
def _render_cached(spec: VehicleSpec, view: str) -> tuple[np.ndarray, np.ndarray]:
    if view == "side":
        cv = _side(spec)
    elif view in ("front", "rear"):
        cv = _end(spec, front=view == "front")
    else:
        raise ValueError(f"unknown view {view!r}; valid views: {', '.join(VIEWS)}")
    ys, xs = np.nonzero(cv.mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    img = cv.img[y0:y1, x0:x1].copy()
    mask = cv.mask[y0:y1, x0:x1].copy()
    img.setflags(write=False)
    mask.setflags(write=False)
    return img, mask


def render_vehicle(spec: VehicleSpec, view: str = "side", flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``spec`` from ``view`` ("front", "rear" or "side"); ``flip`` mirrors it (a side view facing left).

    Returns a tightly cropped BGR uint8 sprite (H, W, 3) and its coverage mask (H, W) uint8 (255 inside,
    anti-aliased edges). Both are fresh arrays the caller may modify. Deterministic: the same spec and view
    always give the same pixels.
    """
    img, mask = _render_cached(spec, view)
    if flip:
        return img[:, ::-1].copy(), mask[:, ::-1].copy()
    return img.copy(), mask.copy()
