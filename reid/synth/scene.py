"""Multi-camera traffic scenes: one video per camera, MOTChallenge ground truth with global ids, ``cameras.yaml``.

Layout of a scene folder (``layout="mot"``, the default)::

    <out>/cam1.mp4 ...          one video per camera (mp4v), ``round(seconds * fps)`` frames each
    <out>/gt/cam1.txt ...       frame,global_id,left,top,width,height,1,-1,-1,-1 (frame 1-based, pixel
                                coordinates 0-based, boxes clipped to the frame, one line per visible box;
                                a box partly hidden by another vehicle or a lamp post is still listed)
    <out>/background/cam1.png   the camera's empty background (what a perfect background model would learn)
    <out>/cameras.yaml          kind: cameras — fps, start times, linked cameras and travel-time windows
    <out>/scene.json            what :class:`SceneInfo` holds; written last, so its presence means complete

The CityFlowV2 / AI City layout (``layout="cityflow"``, see :mod:`reid.multicam.cityflow`) holds the same
scene, with cameras named ``c001, c002, ...`` in one scenario folder ``S01``::

    <out>/S01/c001/vdo.avi      the camera's video (mp4v in AVI)
    <out>/S01/c001/roi.jpg      its region of interest: white on the road, black where tracking is not wanted
    <out>/S01/c001/gt/gt.txt    ground truth inside the region only (the rule of :func:`reid.video.roi.inside`)
    <out>/S01/cameras.yaml      the topology (no start times: those come from the timestamp file)
    <out>/cam_timestamp/S01.txt "c001 0" lines: each camera's start time in seconds
    <out>/cam_framenum/S01.txt  "c001 300" lines: each camera's number of frames
    <out>/background/c001.png   and <out>/scene.json as above

The cameras form a chain cam1 - cam2 - ... - camN along one road. Each vehicle drives in one direction along
the chain: it crosses the view of its first camera, needs a travel time drawn from the link's window to reach
the next one, and so on; some visit only one camera, some drive off before the video ends. Lateral cameras
see vehicles from the side; "diagonal" cameras look along the road and see them from the front (approaching)
or the rear (leaving), growing or shrinking with distance. Each direction has its own lane, so opposite
vehicles cross and hide each other. Lighting, scale and viewpoint differ per camera; the vehicle does not.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from reid.errors import InputError, OutputError
from reid.io import atomic_write_json, atomic_write_text, count_video_frames, write_image
from reid.outputs import claim, free_space
from reid.synth.output import ProgressCallback, check_positive, make_dir, prepare_owned_dir, report
from reid.synth.vehicles import VehicleSpec, render_vehicle, sample_vehicles
from reid.synth.views import CameraStyle, apply_lighting

FOURCC = "mp4v"
VIDEO_SUFFIX = ".mp4"
MIN_VISIBLE = 6  # pixels: narrower slivers at the frame border are not ground truth


@dataclass
class SceneInfo:
    """What :func:`write_scene` produced. ``visits`` maps each global id to the cameras it appears in, in order.

    ``source`` is the folder to give ``reid track`` (the scene folder, or its ``S01/`` in the CityFlow layout);
    ``rois`` are the region masks of the CityFlow layout (none in the MOT layout).
    """

    out: Path
    cameras: list[str]
    videos: dict[str, Path]
    gt: dict[str, Path]
    fps: float
    frames: dict[str, int]
    num_ids: int
    visits: dict[int, list[str]]
    size: tuple[int, int] = (640, 360)
    backgrounds: dict[str, Path] = field(default_factory=dict)
    cameras_yaml: Path | None = None
    layout: str = "mot"
    rois: dict[str, Path] = field(default_factory=dict)
    source: Path | None = None

    def to_json(self) -> dict:
        def rel(paths: dict[str, Path]) -> dict[str, str]:
            return {c: p.relative_to(self.out).as_posix() for c, p in paths.items()}

        return {
            "cameras": self.cameras, "fps": self.fps, "frames": self.frames, "num_ids": self.num_ids,
            "visits": {str(k): v for k, v in self.visits.items()}, "size": list(self.size),
            "videos": rel(self.videos), "gt": rel(self.gt), "backgrounds": rel(self.backgrounds),
            "layout": self.layout, "rois": rel(self.rois),
            "source": (self.source or self.out).relative_to(self.out).as_posix(),
            "cameras_yaml": (self.cameras_yaml or self.out / "cameras.yaml").relative_to(self.out).as_posix(),
        }


def load_scene(out: str | Path) -> SceneInfo:
    """Read the :class:`SceneInfo` of a scene folder written by :func:`write_scene`."""
    out = Path(out)
    path = out / "scene.json"
    if not path.is_file():
        raise InputError(f"{out} is not a complete synthetic scene: {path.name} is missing", "write one with `reid synth scene`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SceneInfo(
            out=out, cameras=list(data["cameras"]), fps=float(data["fps"]),
            videos={c: out / p for c, p in data["videos"].items()}, gt={c: out / p for c, p in data["gt"].items()},
            frames={c: int(n) for c, n in data["frames"].items()}, num_ids=int(data["num_ids"]),
            visits={int(k): list(v) for k, v in data["visits"].items()}, size=tuple(data["size"]),  # type: ignore[arg-type]
            backgrounds={c: out / p for c, p in data.get("backgrounds", {}).items()},
            cameras_yaml=out / data.get("cameras_yaml", "cameras.yaml"), layout=str(data.get("layout", "mot")),
            rois={c: out / p for c, p in data.get("rois", {}).items()}, source=out / data.get("source", "."),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is corrupt: {exc}", "write the scene again with `reid synth scene --overwrite`") from exc


# ------------------------------------------------------------------------------------------ layouts


LAYOUTS = ("mot", "cityflow")
SCENARIO = "S01"  # the scenario folder of the CityFlow layout


@dataclass
class _CameraFiles:
    video: Path
    gt: Path
    roi: Path | None = None


@dataclass
class _LayoutPlan:
    """Where a layout puts each camera's files, and which entries of the output folder the writer owns."""

    layout: str
    names: list[str]
    files: dict[str, _CameraFiles]
    owned: list[str]
    source: Path
    cameras_yaml: Path


def _layout_plan(root: Path, layout: str, cameras: int) -> _LayoutPlan:
    if layout not in LAYOUTS:
        raise InputError(f"unknown scene layout {layout!r}", f"--layout takes {' or '.join(LAYOUTS)}")
    if layout == "mot":
        names = [f"cam{i + 1}" for i in range(cameras)]
        files = {n: _CameraFiles(root / f"{n}{VIDEO_SUFFIX}", root / "gt" / f"{n}.txt") for n in names}
        owned = ["gt", "background", "cameras.yaml", "scene.json"] + [f"{n}{VIDEO_SUFFIX}" for n in names]
        return _LayoutPlan(layout, names, files, owned, root, root / "cameras.yaml")
    from reid.multicam.cityflow import FRAMENUM_DIR, ROI_FILE, TIMESTAMP_DIR, TRUTH_FILE, VIDEO_STEM

    names = [f"c{i + 1:03d}" for i in range(cameras)]
    scenario = root / SCENARIO
    files = {n: _CameraFiles(scenario / n / f"{VIDEO_STEM}.avi", scenario / n / TRUTH_FILE, scenario / n / ROI_FILE)
             for n in names}
    owned = [SCENARIO, "background", "scene.json", f"{TIMESTAMP_DIR}/{SCENARIO}.txt", f"{FRAMENUM_DIR}/{SCENARIO}.txt"]
    return _LayoutPlan(layout, names, files, owned, scenario, scenario / "cameras.yaml")


def _region_mask(cam: _Camera) -> np.ndarray:
    """The camera's region of interest (uint8, 255 inside): the road with room for the vehicles' bodies above
    it, less one stretch where vehicles do drive (the left fifth of a side view, the far third of a view along
    the road), so that a tracker sees vehicles leave and enter the region."""
    w, h = cam.width, cam.height
    mask = np.zeros((h, w), np.uint8)
    if cam.kind == "lateral":
        def yc(xx: float) -> float:
            return cam.road_y + cam.road_slope * (xx - w / 2)

        top, bottom = 0.13 * h + 0.3 * h, 0.11 * h + 0.04 * h
        road = np.array([[0, yc(0) - top], [w, yc(w) - top], [w, yc(w) + bottom], [0, yc(0) + bottom]])
        cv2.fillPoly(mask, [road.astype(np.int32)], 255)
        mask[:, : int(0.2 * w)] = 0
    else:
        fx, fy = cam.far
        nx, ny = cam.near
        hf, hn = cam.half_width[0] * 1.3, cam.half_width[1] * 1.3
        road = np.array([[fx - hf, fy], [fx + hf, fy], [nx + hn, ny], [nx - hn, ny]])
        cv2.fillPoly(mask, [road.astype(np.int32)], 255)
        mask[: int(0.3 * h)] = 0
    return mask


def _write_region(cam: _Camera, path: Path) -> np.ndarray:
    """Write the camera's ``roi.jpg`` and return the mask as a reader of that JPEG sees it."""
    from reid.video.roi import load_mask

    write_image(path, _region_mask(cam))
    return load_mask(path)


def _write_index_files(root: Path, plan: _LayoutPlan, fps: float, seconds: float, n_frames: int) -> None:
    """``cameras.yaml`` (and in the CityFlow layout the timestamp and frame-count files), written last."""
    lo, hi = _travel_window(float(seconds))
    names = plan.names
    camera_info: dict = {"fps": float(fps)} if plan.layout == "cityflow" else {"fps": float(fps), "start_time": 0.0}
    cameras_doc = {
        "kind": "cameras",
        "cameras": {name: dict(camera_info) for name in names},
        "links": [{"a": names[i], "b": names[i + 1], "min_travel": round(lo, 3), "max_travel": round(hi, 3)}
                  for i in range(len(names) - 1)],
    }
    if plan.layout == "cityflow":
        from reid.multicam.cityflow import FRAMENUM_DIR, TIMESTAMP_DIR

        for folder, value in ((TIMESTAMP_DIR, "0"), (FRAMENUM_DIR, str(n_frames))):
            make_dir(root / folder)
            atomic_write_text(root / folder / f"{SCENARIO}.txt", "".join(f"{n} {value}\n" for n in names))
    atomic_write_text(plan.cameras_yaml, yaml.safe_dump(cameras_doc, sort_keys=False))


# ------------------------------------------------------------------------------------------ camera geometry


@dataclass
class _Camera:
    name: str
    kind: str  # "lateral" or "diagonal"
    width: int
    height: int
    style: CameraStyle
    cross_time: tuple[float, float]  # seconds to cross the view, per lane (forward, backward)
    forward_sign: int  # lateral: +1 if chain-forward vehicles move left-to-right
    forward_far: bool  # lateral: chain-forward vehicles use the far lane
    road_y: float = 0.0
    road_slope: float = 0.0
    zoom: float = 1.0
    far: tuple[float, float] = (0.0, 0.0)
    near: tuple[float, float] = (0.0, 0.0)
    half_width: tuple[float, float] = (0.0, 0.0)  # road half-width at far and near end (diagonal)
    scale_range: tuple[float, float] = (0.3, 1.0)
    occluders: list[tuple[int, int, int, int, tuple[int, int, int]]] = field(default_factory=list)

    # Each placement: (sprite view, flip, scale, bottom-centre x, bottom-centre y, depth for draw order)
    def place(self, spec: VehicleSpec, forward: bool, u: float) -> tuple[str, bool, float, float, float]:
        """Where a vehicle is at progress ``u`` in [0, 1] through this view (0: about to enter, 1: just left)."""
        if self.kind == "lateral":
            far_lane = forward == self.forward_far
            scale = self.zoom * (0.88 if far_lane else 1.0)
            length = spec.length * scale + 24 * scale
            sign = self.forward_sign if forward else -self.forward_sign
            span = self.width + length + 4
            x = -length / 2 - 2 + u * span if sign > 0 else self.width + length / 2 + 2 - u * span
            gap = 0.045 * self.height
            y = self.road_y + self.road_slope * (x - self.width / 2) + (-gap if far_lane else gap)
            return "side", sign < 0, scale, x, y
        # diagonal: approaching (forward) from the far end, leaving (backward) towards it
        p = u if forward else 1.0 - u
        t = p**1.6  # perspective: slow far away, fast close by
        fx, fy = self.far
        nx, ny = self.near
        half = self.half_width[0] + (self.half_width[1] - self.half_width[0]) * t
        x = fx + (nx - fx) * t + (0.45 * half if forward else -0.45 * half)
        y = fy + (ny - fy) * t
        scale = self.scale_range[0] + (self.scale_range[1] - self.scale_range[0]) * t
        return ("front" if forward else "rear"), False, scale, x, y


def _make_camera(name: str, index: int, width: int, height: int, rng: np.random.Generator) -> _Camera:
    kind = "diagonal" if index % 2 == 1 else "lateral"
    unit = min(width / 640, height / 360)
    style = CameraStyle.sample(rng)
    cam = _Camera(
        name=name, kind=kind, width=width, height=height, style=style,
        cross_time=(float(rng.uniform(3.5, 5.5)), float(rng.uniform(3.5, 5.5))),
        forward_sign=1 if rng.random() < 0.5 else -1, forward_far=bool(rng.random() < 0.5),
    )
    if kind == "lateral":
        cam.road_y = height * float(rng.uniform(0.6, 0.7))
        cam.road_slope = float(np.tan(np.deg2rad(rng.uniform(-6, 6))))
        cam.zoom = unit * float(rng.uniform(0.36, 0.44))
    else:
        cam.far = (width * float(rng.uniform(0.42, 0.58)), -0.02 * height)
        cam.near = (width * float(rng.uniform(0.35, 0.65)), 1.45 * height)
        cam.half_width = (0.05 * width, 0.42 * width)
        cam.scale_range = (0.45 * unit, 1.05 * unit)
    return cam


# ------------------------------------------------------------------------------------------ backgrounds


def _background(cam: _Camera, rng: np.random.Generator) -> np.ndarray:
    """A static street: sky, buildings and trees behind, asphalt road with lane paint, kerbs and clutter."""
    w, h = cam.width, cam.height
    img = np.zeros((h, w, 3), np.uint8)
    sky = np.array(rng.uniform([150, 120, 90], [235, 210, 190]), np.float32)
    img[:] = (sky * 0.85).astype(np.uint8)
    ground = tuple(int(c) for c in rng.uniform([40, 80, 50], [90, 140, 110]))  # grass / pavement
    horizon = int(h * (0.42 if cam.kind == "lateral" else 0.2))
    img[horizon:] = ground
    # buildings along the horizon
    x = int(rng.integers(-30, 0))
    while x < w:
        bw, bh = int(rng.integers(w // 14, w // 5)), int(rng.integers(h // 8, int(h * 0.38)))
        color = tuple(int(c) for c in rng.integers(60, 200, 3))
        top = max(0, horizon - bh)
        cv2.rectangle(img, (x, top), (x + bw, horizon), color, -1)
        win = tuple(int(c * 0.55) for c in color)
        for wy in range(top + 6, horizon - 8, 14):
            for wx in range(x + 5, x + bw - 8, 12):
                cv2.rectangle(img, (wx, wy), (wx + 5, wy + 7), win, -1)
        x += bw + int(rng.integers(0, w // 20))
    # trees
    for _ in range(int(rng.integers(3, 8))):
        tx, ty = int(rng.integers(0, w)), int(horizon + rng.integers(-h // 10, h // 12))
        r = int(rng.integers(h // 22, h // 9))
        cv2.rectangle(img, (tx - 2, ty), (tx + 2, ty + r * 2), (30, 50, 70), -1)
        cv2.circle(img, (tx, ty), r, tuple(int(c) for c in rng.uniform([20, 80, 20], [70, 150, 70])), -1, cv2.LINE_AA)
    asphalt = tuple(int(c) for c in (rng.integers(55, 110) + rng.integers(-6, 6, 3)))
    line_color = (225, 225, 225)
    if cam.kind == "lateral":
        def yc(xx: float) -> float:
            return cam.road_y + cam.road_slope * (xx - w / 2)

        top_off, bottom_off = 0.13 * h, 0.11 * h
        road = np.array([[0, yc(0) - top_off], [w, yc(w) - top_off], [w, yc(w) + bottom_off], [0, yc(0) + bottom_off]])
        cv2.fillPoly(img, [road.astype(np.int32)], asphalt, cv2.LINE_AA)
        for off, color in ((-top_off, (170, 170, 170)), (bottom_off, (170, 170, 170))):  # kerbs
            cv2.line(img, (0, int(yc(0) + off)), (w, int(yc(w) + off)), color, max(2, h // 90), cv2.LINE_AA)
        dash = max(12, w // 25)
        for x0 in range(int(rng.integers(0, dash)), w, dash * 2):  # dashed centre line
            cv2.line(img, (x0, int(yc(x0))), (x0 + dash, int(yc(x0 + dash))), line_color, max(1, h // 180), cv2.LINE_AA)
    else:
        fx, fy = cam.far
        nx, ny = cam.near
        hf, hn = cam.half_width
        road = np.array([[fx - hf, fy], [fx + hf, fy], [nx + hn, ny], [nx - hn, ny]])
        cv2.fillPoly(img, [road.astype(np.int32)], asphalt, cv2.LINE_AA)
        for side in (-1, 1):
            cv2.line(img, (int(fx + side * hf), int(fy)), (int(nx + side * hn), int(ny)), (170, 170, 170), max(2, h // 90))
        for k in range(12):  # dashes grow towards the camera
            t0, t1 = (k / 12) ** 1.6, ((k + 0.5) / 12) ** 1.6
            p0 = (int(fx + (nx - fx) * t0), int(fy + (ny - fy) * t0))
            p1 = (int(fx + (nx - fx) * t1), int(fy + (ny - fy) * t1))
            cv2.line(img, p0, p1, line_color, max(1, int(1 + 3 * t1)), cv2.LINE_AA)
    # texture so the background is not flat, then street clutter off the road
    texture = rng.normal(0, 4, (h // 4 + 1, w // 4 + 1, 1)).astype(np.float32)
    texture = cv2.resize(texture, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    img = np.clip(img.astype(np.float32) + texture, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 7))):
        cx = int(rng.integers(0, w))
        cy = int(rng.integers(horizon, h))
        color = tuple(int(c) for c in rng.integers(30, 230, 3))
        if rng.random() < 0.5:
            cv2.rectangle(img, (cx, cy), (cx + int(rng.integers(4, 14)), cy + int(rng.integers(6, 20))), color, -1)
        else:
            cv2.circle(img, (cx, cy), int(rng.integers(3, 8)), color, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (3, 3), 0)


def _add_occluders(cam: _Camera, rng: np.random.Generator) -> None:
    """Lamp posts or signs in front of the road: static, so they belong to the background image too."""
    for _ in range(int(rng.choice([0, 1, 1, 2]))):
        x = int(rng.integers(int(cam.width * 0.15), int(cam.width * 0.85)))
        pw = max(3, cam.width // 110)
        color = tuple(int(c) for c in rng.integers(30, 90, 3))
        cam.occluders.append((x, 0, x + pw, cam.height, color))


def _draw_occluders(img: np.ndarray, cam: _Camera) -> None:
    for x0, y0, x1, y1, color in cam.occluders:
        cv2.rectangle(img, (x0, y0), (x1, y1), color, -1)


# ------------------------------------------------------------------------------------------ schedule


@dataclass
class _Pass:
    """One vehicle crossing one camera's view: enters at ``t_in``, is gone at ``t_out`` (shared clock)."""

    vehicle: int
    camera: int
    forward: bool
    t_in: float
    t_out: float


def _travel_window(seconds: float) -> tuple[float, float]:
    lo = max(1.0, 0.06 * seconds)
    return lo, max(lo + 2.0, 0.2 * seconds)


HEADWAY = 1.3  # seconds between two vehicles entering the same lane of one camera, so none drives through another


@dataclass
class _Plan:
    vehicle: int
    forward: bool
    route: list[int]
    cross: list[float]
    travel: list[float]
    t0: float


def _plan_routes(
    cams: list[_Camera], n_vehicles: int, seconds: float, fps: float, rng: np.random.Generator
) -> list[_Plan]:
    """Direction, cameras, crossing and travel times of each vehicle, before lanes are checked for room."""
    n_cams = len(cams)
    lo, hi = _travel_window(seconds)
    margin = min(3.0 / fps, (hi - lo) / 4)
    plans: list[_Plan] = []
    for i in range(n_vehicles):
        forward = bool(rng.random() < 0.5)
        # most traffic enters the road at either end of the chain; the rest joins or leaves in between
        start = (0 if forward else n_cams - 1) if rng.random() < 0.6 else int(rng.integers(n_cams))
        reach = (n_cams - start) if forward else (start + 1)
        count = 1 if (reach == 1 or rng.random() < 0.25) else int(rng.integers(2, reach + 1))
        route = [start + k if forward else start - k for k in range(count)]
        travel = [float(rng.uniform(lo + margin, hi - margin)) for _ in route[1:]]
        cross = [cams[c].cross_time[0 if forward else 1] for c in route]
        duration = sum(cross) + sum(travel)
        t0 = float(rng.uniform(-0.5 * cross[0], max(0.0, seconds - duration) + 0.1))
        if i == 1:
            # the second vehicle drives against the first one through the same camera at the same time,
            # so every scene has at least one crossing with occlusion
            first = plans[0]
            cam0 = first.route[0]
            forward = not first.forward
            cross = [cams[cam0].cross_time[0 if forward else 1]]
            t0 = first.t0 + float(rng.uniform(-0.4, 0.4)) + (cams[cam0].cross_time[0 if first.forward else 1] - cross[0]) / 2
            route, travel = [cam0], []
        plans.append(_Plan(i, forward, route, cross, travel, t0))
    return plans


def _schedule(
    cams: list[_Camera], n_vehicles: int, seconds: float, fps: float, rng: np.random.Generator
) -> list[_Pass]:
    """Passes of every vehicle through every camera it reaches, keeping a headway in each lane.

    A vehicle whose first camera lane is busy starts later; one that would reach a busy lane of a later camera
    waits (a longer travel time, still inside the link's window) or, if the window has no room, turns off the
    road there, which is how some vehicles come to be seen by fewer cameras.
    """
    lo, hi = _travel_window(seconds)
    margin = min(3.0 / fps, (hi - lo) / 4)
    lanes: dict[tuple[int, bool], list[float]] = {}
    passes: list[_Pass] = []

    def conflict(cam: int, forward: bool, t: float) -> float | None:
        """The entry time that blocks ``t`` in this lane, if any."""
        for other in lanes.get((cam, forward), []):
            if abs(other - t) < HEADWAY:
                return other
        return None

    for plan in sorted(_plan_routes(cams, n_vehicles, seconds, fps, rng), key=lambda p: p.t0):
        t = plan.t0
        while (blocker := conflict(plan.route[0], plan.forward, t)) is not None:
            t = blocker + HEADWAY + 0.05
        for k, cam in enumerate(plan.route):
            if k > 0:
                slack = (hi - margin) - plan.travel[k - 1]
                wait = 0.0
                while (blocker := conflict(cam, plan.forward, t + wait)) is not None and wait <= slack:
                    wait = blocker + HEADWAY + 0.05 - t
                if wait > slack:
                    break
                t += wait
            lanes.setdefault((cam, plan.forward), []).append(t)
            passes.append(_Pass(plan.vehicle, cam, plan.forward, t, t + plan.cross[k]))
            t += plan.cross[k] + (plan.travel[k] if k < len(plan.travel) else 0.0)
    return passes


# ------------------------------------------------------------------------------------------ rendering


class _SpriteCache:
    """Lit sprites per (vehicle, camera, view, flip) at full resolution; resized per frame (cheap, small)."""

    def __init__(self) -> None:
        self._lit: dict[tuple[int, int, str, bool], tuple[np.ndarray, np.ndarray]] = {}

    def get(self, spec: VehicleSpec, cam_index: int, cam: _Camera, view: str, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        key = (spec.vehicle_id, cam_index, view, flip)
        if key not in self._lit:
            img, mask = render_vehicle(spec, view, flip)
            self._lit[key] = (apply_lighting(img, cam.style.gain, cam.style.cast), mask)
        return self._lit[key]


def _paste(frame: np.ndarray, sprite: np.ndarray, mask: np.ndarray, x0: int, y0: int) -> tuple[int, int, int, int] | None:
    """Alpha-blend ``sprite`` with its top-left corner at (x0, y0); return the visible box (l, t, w, h)."""
    h, w = mask.shape
    frame_h, frame_w = frame.shape[:2]
    left, top, right, bottom = max(0, x0), max(0, y0), min(frame_w, x0 + w), min(frame_h, y0 + h)
    if right - left <= 0 or bottom - top <= 0:
        return None
    sub_sprite = sprite[top - y0 : bottom - y0, left - x0 : right - x0].astype(np.uint16)
    a = mask[top - y0 : bottom - y0, left - x0 : right - x0].astype(np.uint16)[..., None]
    roi = frame[top:bottom, left:right]
    roi[:] = ((sub_sprite * a + roi.astype(np.uint16) * (255 - a) + 127) // 255).astype(np.uint8)
    return left, top, right - left, bottom - top


@dataclass
class _World:
    """Everything the cameras of one scene share while they are rendered."""

    specs: list[VehicleSpec]
    passes: list[_Pass]
    fps: float
    n_frames: int
    seed: int
    cache: _SpriteCache = field(default_factory=_SpriteCache)


def _render_camera(world: _World, ci: int, cam: _Camera, background: np.ndarray, video_path: Path,
                   progress: ProgressCallback | None = None, total: int = 0) -> list[tuple[int, ...]]:
    """Write one camera's video (moved into place when complete); return its truth rows in frame order,
    ``(frame, global_id, left, top, width, height, 1)``."""
    height, width = background.shape[:2]
    frame_rng = np.random.default_rng([world.seed, 211, ci])
    # a few noise patterns, cycled: per-frame sensor noise without paying for a fresh draw each frame
    noise = [frame_rng.normal(0, 1.6, (height, width, 3)).round().clip(-6, 6).astype(np.int8) for _ in range(6)]
    noise_pos = [np.maximum(n, 0).astype(np.uint8) for n in noise]
    noise_neg = [np.maximum(-n, 0).astype(np.uint8) for n in noise]
    cam_passes = [p for p in world.passes if p.camera == ci]
    partial = video_path.with_name(f".{cam.name}.partial{video_path.suffix}")
    claim(video_path)
    claim(partial)  # recorded, so that an interrupted run's leftover is cleaned up as ours
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*FOURCC), float(world.fps), (width, height))
    if not writer.isOpened():
        raise OutputError(f"OpenCV cannot write {FOURCC} video {partial}", "check free space and permissions of --out")
    rows: list[tuple[int, ...]] = []
    try:
        for f in range(world.n_frames):
            t = f / world.fps
            frame = background.copy()
            placed = []
            for p in cam_passes:
                if not (p.t_in <= t <= p.t_out):
                    continue
                u = (t - p.t_in) / (p.t_out - p.t_in)
                spec = world.specs[p.vehicle]
                view, flip, scale, bx, by = cam.place(spec, p.forward, u)
                placed.append((by, p.vehicle, spec, view, flip, scale, bx))
            boxes = []
            for by, vi, spec, view, flip, scale, bx in sorted(placed, key=lambda item: (item[0], item[1])):
                sprite, mask = world.cache.get(spec, ci, cam, view, flip)
                sw, sh = max(2, int(round(mask.shape[1] * scale))), max(2, int(round(mask.shape[0] * scale)))
                small = cv2.resize(sprite, (sw, sh), interpolation=cv2.INTER_AREA)
                small_mask = cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_AREA)
                box = _paste(frame, small, small_mask, int(round(bx - sw / 2)), int(round(by - sh)))
                if box is not None and box[2] >= MIN_VISIBLE and box[3] >= MIN_VISIBLE:
                    boxes.append((f + 1, vi + 1, *box, 1))
            rows.extend(sorted(boxes))
            _draw_occluders(frame, cam)
            k = int(frame_rng.integers(len(noise)))
            frame = cv2.subtract(cv2.add(frame, noise_pos[k]), noise_neg[k])
            writer.write(frame)
            report(progress, ci * world.n_frames + f + 1, total, camera=cam.name)
    except BaseException:
        writer.release()
        partial.unlink(missing_ok=True)  # an interrupted video must not be left behind, even hidden
        raise
    writer.release()
    if count_video_frames(partial) < world.n_frames:  # OpenCV's writer does not report a full disk
        partial.unlink(missing_ok=True)
        raise OutputError(f"the video {video_path} could not be written completely",
                          f"check free space of --out ({free_space(video_path.parent)} free)")
    os.replace(partial, video_path)
    return rows


def write_scene(
    out: str | Path,
    cameras: int = 3,
    vehicles: int = 12,
    seconds: float = 30.0,
    fps: float = 10.0,
    size: tuple[int, int] = (640, 360),
    seed: int = 0,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    layout: str = "mot",
) -> SceneInfo:
    """Write a multi-camera scene to ``out`` (layouts in the module docstring) and return its :class:`SceneInfo`.

    Deterministic for ``seed``; the two layouts hold the same videos for the same arguments. ``size`` is (width,
    height). ``progress(done, total, camera=...)`` counts frames over all cameras.
    """
    from reid.motfile import write_mot
    from reid.video.roi import inside

    check_positive("number of cameras", cameras, "--cameras")
    check_positive("number of vehicles", vehicles, "--ids / scene.vehicles")
    check_positive("scene length in seconds", seconds, "--seconds", 0.1)
    check_positive("frames per second", fps, "scene.fps", 0.5)
    check_positive("frame width", size[0], "scene.size", 64)
    check_positive("frame height", size[1], "scene.size", 48)
    width, height = int(size[0]) // 2 * 2, int(size[1]) // 2 * 2  # video codecs want even sizes
    plan = _layout_plan(Path(out), layout, cameras)
    root = prepare_owned_dir(out, overwrite, plan.owned)  # with overwrite, removes the earlier scene's files
    plan = _layout_plan(root, layout, cameras)
    make_dir(root / "background")

    rng = np.random.default_rng([int(seed), 101])
    cams = [_make_camera(name, i, width, height, rng) for i, name in enumerate(plan.names)]
    backgrounds = []
    for cam in cams:
        _add_occluders(cam, rng)
        bg = apply_lighting(_background(cam, rng), cam.style.gain, cam.style.cast)  # same light as its vehicles
        _draw_occluders(bg, cam)
        backgrounds.append(bg)
    specs = sample_vehicles(vehicles, seed=int(seed) * 7 + 3, near_duplicate_rate=0.25)
    world = _World(specs, _schedule(cams, len(specs), float(seconds), float(fps), rng), float(fps),
                   expected_frames(seconds, fps), int(seed))

    first_seen: dict[int, list[tuple[float, str]]] = {}
    bgs: dict[str, Path] = {}
    for ci, cam in enumerate(cams):
        files = plan.files[cam.name]
        bgs[cam.name] = root / "background" / f"{cam.name}.png"
        write_image(bgs[cam.name], backgrounds[ci])
        region = _write_region(cam, files.roi) if files.roi is not None else None
        rows = _render_camera(world, ci, cam, backgrounds[ci], files.video, progress, world.n_frames * cameras)
        if region is not None:  # the CityFlow truth covers the region of interest only
            boxes = np.array([[r[2], r[3], r[2] + r[4], r[3] + r[5]] for r in rows], np.float64).reshape(-1, 4)
            rows = [r for r, keep in zip(rows, inside(region, boxes), strict=True) if keep]
        write_mot(files.gt, rows)
        for gid in dict.fromkeys(r[1] for r in rows):
            first = min(r[0] for r in rows if r[1] == gid)
            first_seen.setdefault(gid, []).append(((first - 1) / world.fps, cam.name))

    _write_index_files(root, plan, fps, seconds, world.n_frames)
    visits = {gid: [name for _, name in sorted(v)] for gid, v in sorted(first_seen.items())}
    info = SceneInfo(
        out=root, cameras=plan.names, videos={n: f.video for n, f in plan.files.items()},
        gt={n: f.gt for n, f in plan.files.items()}, fps=float(fps), frames={n: world.n_frames for n in plan.names},
        num_ids=len(visits), visits=visits, size=(width, height), backgrounds=bgs, cameras_yaml=plan.cameras_yaml,
        layout=layout, rois={n: f.roi for n, f in plan.files.items() if f.roi is not None}, source=plan.source,
    )
    atomic_write_json(root / "scene.json", info.to_json())
    return info


def expected_frames(seconds: float, fps: float) -> int:
    """Frames per camera video that :func:`write_scene` writes for ``seconds`` at ``fps``."""
    return max(1, int(round(seconds * fps)))


