"""Multi-camera scenes: videos OpenCV can read, ground truth that matches the pixels, travel times, topology."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from reid.cameras import load_cameras
from reid.errors import InputError, OutputError
from reid.synth.scene import expected_frames, load_scene, write_scene

ARGS = dict(cameras=3, vehicles=8, seconds=16.0, fps=5.0, size=(320, 180), seed=0)


def _read_gt(path: Path) -> np.ndarray:
    rows = [[float(v) for v in line.split(",")] for line in path.read_text().splitlines()]
    return np.asarray(rows).reshape(-1, 10)


def _frames(path: Path):
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return write_scene(tmp_path_factory.mktemp("scene") / "s", **ARGS)


def test_layout_and_frame_counts(scene):
    root = scene.out
    assert scene.cameras == ["cam1", "cam2", "cam3"]
    n = expected_frames(16.0, 5.0)
    assert n == 80
    for cam in scene.cameras:
        assert scene.videos[cam] == root / f"{cam}.mp4" and scene.gt[cam] == root / "gt" / f"{cam}.txt"
        cap = cv2.VideoCapture(str(scene.videos[cam]))
        assert cap.isOpened()
        assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 320 and int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == 180
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)
        cap.release()
        assert sum(1 for _ in _frames(scene.videos[cam])) == n == scene.frames[cam]
    assert not list(root.glob(".*partial*"))
    again = load_scene(root)
    assert again.visits == scene.visits and again.frames == scene.frames and again.videos == scene.videos


def test_ground_truth_is_motchallenge_inside_the_frame(scene):
    ids_seen = set()
    for cam in scene.cameras:
        gt = _read_gt(scene.gt[cam])
        assert len(gt)
        frame, gid, left, top, w, h = gt[:, :6].T
        assert np.all((frame >= 1) & (frame <= scene.frames[cam]))
        assert np.all((left >= 0) & (top >= 0) & (w > 0) & (h > 0))
        assert np.all(left + w <= 320) and np.all(top + h <= 180)
        assert np.all(gt[:, 6] == 1) and np.all(gt[:, 7:] == -1)
        pairs = list(zip(frame.astype(int), gid.astype(int), strict=True))
        assert len(pairs) == len(set(pairs)), "one box per identity per frame"
        ids_seen |= set(gid.astype(int))
        # every listed camera visit is backed by boxes, and every box by a visit
        for g in set(gid.astype(int)):
            assert cam in scene.visits[g]
    assert ids_seen == set(scene.visits) and scene.num_ids == len(ids_seen)


def test_boxes_hold_the_vehicles_and_the_rest_is_background(scene):
    for cam in scene.cameras:
        background = cv2.imread(str(scene.backgrounds[cam])).astype(np.int16)
        gt = _read_gt(scene.gt[cam])
        inside, outside = [], []
        for f, frame in enumerate(_frames(scene.videos[cam]), start=1):
            diff = np.abs(frame.astype(np.int16) - background).mean(axis=2)
            covered = np.zeros(diff.shape, bool)
            for row in gt[gt[:, 0] == f]:
                x, y, w, h = row[2:6].astype(int)
                covered[y : y + h, x : x + w] = True
                inside.append(diff[y : y + h, x : x + w].mean())
            outside.append(diff[~covered].mean())
        assert max(outside) < 6.0, f"{cam}: pixels outside every box should be the background plus noise"
        assert np.median(inside) > 20.0 and min(inside) > 8.0, f"{cam}: boxes must hold a vehicle"


def test_a_background_subtractor_finds_the_vehicles(scene):
    for cam in scene.cameras:
        gt = _read_gt(scene.gt[cam])
        mog = cv2.createBackgroundSubtractorMOG2(detectShadows=False)
        fg_in, fg_out = [], []
        for f, frame in enumerate(_frames(scene.videos[cam]), start=1):
            fg = mog.apply(frame) > 0
            if f <= 5:
                continue
            covered = np.zeros(fg.shape, bool)
            for row in gt[gt[:, 0] == f]:
                x, y, w, h = row[2:6].astype(int)
                covered[y : y + h, x : x + w] = True
                fg_in.append(fg[y : y + h, x : x + w].mean())
            fg_out.append(fg[~covered].mean())
        assert np.mean(fg_in) > 0.5 and np.mean(fg_out) < 0.02


def test_travel_times_follow_the_camera_links(scene):
    cams = load_cameras(scene.cameras_yaml)
    assert list(cams.cameras) == scene.cameras
    assert cams.connected("cam1", "cam2") and cams.connected("cam3", "cam2") and not cams.connected("cam1", "cam3")
    gts = {c: _read_gt(scene.gt[c]) for c in scene.cameras}
    moves = 0
    for gid, visits in scene.visits.items():
        for a, b in zip(visits, visits[1:], strict=False):
            window = cams.travel_window(a, b)
            assert window is not None, f"vehicle {gid} jumped between unlinked cameras {a} and {b}"
            last_a = gts[a][gts[a][:, 1] == gid][:, 0].max()
            first_b = gts[b][gts[b][:, 1] == gid][:, 0].min()
            gap = (first_b - last_a) / scene.fps
            assert window[0] <= gap <= window[1], (gid, a, b, gap, window)
            moves += 1
    assert moves >= 2
    counts = [len(v) for v in scene.visits.values()]
    assert 1 in counts and max(counts) >= 2, "some vehicles are seen by one camera only, others by several"


def test_vehicles_cross_and_occlude_each_other(scene):
    overlaps = 0
    for cam in scene.cameras:
        gt = _read_gt(scene.gt[cam])
        for f in np.unique(gt[:, 0]):
            boxes = gt[gt[:, 0] == f][:, 2:6]
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    (x1, y1, w1, h1), (x2, y2, w2, h2) = boxes[i], boxes[j]
                    if min(x1 + w1, x2 + w2) > max(x1, x2) and min(y1 + h1, y2 + h2) > max(y1, y2):
                        overlaps += 1
    assert overlaps >= 1


def test_same_seed_same_bytes_other_seed_other_scene(tmp_path, scene):
    again = write_scene(tmp_path / "again", **ARGS)
    for cam in scene.cameras:
        assert again.gt[cam].read_bytes() == scene.gt[cam].read_bytes()
        assert again.videos[cam].read_bytes() == scene.videos[cam].read_bytes()
    assert (tmp_path / "again" / "cameras.yaml").read_bytes() == scene.cameras_yaml.read_bytes()
    other = write_scene(tmp_path / "other", **{**ARGS, "seed": 1})
    assert other.gt["cam1"].read_bytes() != scene.gt["cam1"].read_bytes()


def test_bad_arguments_and_outputs(tmp_path):
    with pytest.raises(InputError, match="cameras"):
        write_scene(tmp_path / "a", cameras=0)
    with pytest.raises(InputError, match="seconds"):
        write_scene(tmp_path / "b", seconds=0)
    assert not (tmp_path / "a").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError):
        write_scene(blocker / "sub", cameras=1, vehicles=1, seconds=1, fps=2, size=(64, 48))
    out = tmp_path / "s"
    write_scene(out, cameras=3, vehicles=2, seconds=1, fps=2, size=(64, 48))
    with pytest.raises(OutputError, match="not empty"):
        write_scene(out, cameras=1, vehicles=1, seconds=1, fps=2, size=(64, 48))
    info = write_scene(out, cameras=1, vehicles=1, seconds=1, fps=2, size=(64, 48), overwrite=True)
    assert sorted(p.name for p in out.glob("*.mp4")) == ["cam1.mp4"] and info.cameras == ["cam1"]
    assert sorted(p.name for p in (out / "gt").iterdir()) == ["cam1.txt"]
    with pytest.raises(InputError, match="scene.json"):
        load_scene(tmp_path)


@pytest.mark.slow
def test_default_scene_from_the_command_line(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "reid_cli.main", "synth", "scene", "--out", str(out)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    info = load_scene(out)
    assert info.cameras == ["cam1", "cam2", "cam3"] and info.size == (640, 360)
    assert all(n == 300 for n in info.frames.values())
    assert info.num_ids == 12
    assert sum(len(v) > 1 for v in info.visits.values()) >= 4
    for cam in info.cameras:
        assert sum(1 for _ in _frames(info.videos[cam])) == 300
        widths = _read_gt(info.gt[cam])[:, 4]
        assert widths.max() <= 160 and np.median(widths) >= 40


def test_cityflow_layout_holds_the_same_scene_with_region_masks(tmp_path, scene):
    from reid.multicam.cityflow import layout_camera, read_camera_table
    from reid.video.roi import inside, load_mask

    cf = write_scene(tmp_path / "aic", layout="cityflow", **ARGS)
    root = cf.out
    assert cf.layout == "cityflow" and cf.cameras == ["c001", "c002", "c003"] and cf.source == root / "S01"
    assert read_camera_table(root / "cam_timestamp" / "S01.txt") == {c: 0.0 for c in cf.cameras}
    assert read_camera_table(root / "cam_framenum" / "S01.txt") == {c: 80.0 for c in cf.cameras}
    assert all("start_time" not in info.model_fields_set for info in load_cameras(cf.cameras_yaml).cameras.values())
    dropped = 0
    for cam, mot_cam in zip(cf.cameras, scene.cameras, strict=True):
        layout = layout_camera(root / "S01" / cam)
        assert layout is not None and layout.video == cf.videos[cam] and layout.roi == cf.rois[cam]
        assert layout.truth == cf.gt[cam]
        # the same pixels as the MOT layout's video
        for a, b in zip(_frames(cf.videos[cam]), _frames(scene.videos[mot_cam]), strict=True):
            assert np.array_equal(a, b)
        mask = load_mask(cf.rois[cam])
        assert 0.1 < mask.mean() < 0.9
        gt, full = _read_gt(cf.gt[cam]), _read_gt(scene.gt[mot_cam])
        boxes = np.column_stack([gt[:, 2], gt[:, 3], gt[:, 2] + gt[:, 4], gt[:, 3] + gt[:, 5]])
        assert inside(mask, boxes).all(), "the CityFlow truth covers the region only"
        assert {tuple(r) for r in gt.tolist()} <= {tuple(r) for r in full.tolist()}
        dropped += len(full) - len(gt)
    assert dropped > 0, "some vehicles are outside the region part of the time"
    again = load_scene(root)
    assert again.rois == cf.rois and again.source == cf.source and again.gt == cf.gt and again.layout == "cityflow"
    assert again.cameras_yaml == root / "S01" / "cameras.yaml"
    with pytest.raises(InputError, match="--layout takes mot or cityflow"):
        write_scene(tmp_path / "bad", layout="kitti")
