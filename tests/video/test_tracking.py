"""Motion detector recall, tracker adapter, best-K crops, rejoin."""

from __future__ import annotations

import numpy as np

from reid.types import Detections, Tracklet
from reid.video.config import RejoinConfig, TrackerConfig
from reid.video.crops import BestCrops
from reid.video.detectors import MotionDetector
from reid.video.rejoin import rejoin
from reid.video.sources import open_source
from reid.video.tracking import CameraTracker
from reid.video.tracklets import TrackSummary
from reid.video.writers import read_mot


def iou(a, b) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_motion_detector_finds_the_vehicles(short_video) -> None:
    video, gt_file = short_video
    gt = read_mot(gt_file)
    det = MotionDetector()
    frames = list(open_source(video))
    found = total = 0
    for start in range(0, len(frames), 8):
        batch = frames[start : start + 8]
        for frame, d in zip(batch, det.detect([f.image for f in batch]), strict=True):
            for row in gt[gt[:, 0] == frame.index + 1]:
                if row[4] * row[5] < 300:  # vehicles barely inside the frame
                    continue
                box = (row[2], row[3], row[2] + row[4], row[3] + row[5])
                total += 1
                found += any(iou(box, b) >= 0.5 for b in d.boxes)
    assert total > 40
    assert found / total >= 0.85


def test_tracker_keeps_ids_through_linear_motion() -> None:
    for kind in ("bytetrack", "botsort"):
        tracker = CameraTracker(TrackerConfig(tracker_type=kind, gmc_method="none"), 10)
        ids = []
        for f in range(20):
            boxes = np.array(
                [[10 + 4 * f, 10, 50 + 4 * f, 30], [200 - 3 * f, 60, 240 - 3 * f, 90]], np.float32
            )
            out = tracker.update(Detections(boxes, [0.9, 0.8], [2, 2]))
            if f >= 2:
                order = np.argsort(out[:, 0])
                ids.append(tuple(out[order, 4].astype(int)))
                assert np.allclose(out[order, 7], [0, 1])  # detection index of each row
        assert len(set(ids)) == 1 and len(set(ids[0])) == 2, kind


def test_best_crops_bounded_and_prefers_sharp_unclipped_large() -> None:
    rng = np.random.default_rng(0)
    frame = np.full((200, 300, 3), 128, np.uint8)
    frame[20:80, 20:120] = rng.integers(0, 255, (60, 100, 3), dtype=np.uint8)  # sharp, large
    frame[120:140, 150:170] = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)  # sharp, small
    frame[100:160, 230:300] = rng.integers(0, 255, (60, 70, 3), dtype=np.uint8)  # cut by the border
    # blurred copy of the large one
    blurred = frame.copy()
    blurred[20:80, 20:120] = 128
    crops = BestCrops(k=2)
    crops.offer(blurred, np.array([20, 20, 120, 80]), 0.9, frame=0)
    crops.offer(frame, np.array([150, 120, 170, 140]), 0.9, frame=1)
    crops.offer(frame, np.array([230, 100, 300, 160]), 0.9, frame=2)
    crops.offer(frame, np.array([20, 20, 120, 80]), 0.9, frame=3)
    for f in range(4, 50):
        crops.offer(blurred, np.array([20, 20, 120, 80]), 0.9, frame=f)
    kept = crops.items()
    assert len(kept) == 2
    assert kept[0].frame == 3
    assert kept[1].frame in (1, 2)


def _summary(tid, first, last, box0, box1, feature, v=(0.0, 0.0)) -> TrackSummary:
    t = Tracklet(
        "c",
        tid,
        2,
        first,
        last,
        first / 10,
        last / 10,
        last - first + 1,
        feature=np.array(feature, np.float32),
    )
    return TrackSummary(
        t, np.array(box0, np.float32), np.array(box1, np.float32), np.array(v, np.float32), 1.0
    )


def test_rejoin_after_occlusion() -> None:
    red, blue = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
    a = _summary(1, 0, 20, [0, 50, 40, 70], [100, 50, 140, 70], red, v=(5, 0))
    b = _summary(2, 30, 50, [150, 50, 190, 70], [250, 50, 290, 70], red, v=(5, 0))
    c = _summary(3, 30, 50, [150, 50, 190, 70], [250, 50, 290, 70], blue)
    far = _summary(4, 25, 40, [0, 150, 40, 170], [50, 150, 90, 170], red)
    merged, mapping = rejoin([a, b, c, far], RejoinConfig(), fps=10.0)
    assert mapping == {1: 1, 2: 1, 3: 3, 4: 4}
    joined = next(s for s in merged if s.tracklet.track_id == 1).tracklet
    assert joined.last_frame == 50 and joined.num_boxes == 42
    assert {s.tracklet.track_id for s in merged} == {1, 3, 4}
    # too long a gap, or rejoin off: nothing joins
    assert rejoin([a, b], RejoinConfig(max_gap=0.5), 10.0)[1] == {1: 1, 2: 2}
    assert rejoin([a, b], RejoinConfig(enabled=False), 10.0)[1] == {1: 1, 2: 2}


def test_rejoin_refuses_border_exits_and_opposite_directions() -> None:
    red = [1.0, 0.0, 0.0]
    a = _summary(1, 0, 20, [200, 50, 240, 70], [0, 50, 40, 70], red, v=(-5, 0))
    b = _summary(2, 25, 45, [0, 80, 40, 100], [100, 80, 140, 100], red, v=(5, 0))
    assert rejoin([a, b], RejoinConfig(max_distance=10.0), 10.0)[1] == {1: 1, 2: 2}  # opposite directions
    a.left_at_border = True
    b.velocity = np.array([-5.0, 0.0], np.float32)
    assert rejoin([a, b], RejoinConfig(max_distance=10.0), 10.0)[1] == {1: 1, 2: 2}  # a drove out of the view
    a.left_at_border = False
    assert rejoin([a, b], RejoinConfig(max_distance=10.0), 10.0)[1] == {1: 1, 2: 1}
    # a track that broke while the vehicle was still entering: the next piece starts where it ended
    c = _summary(3, 0, 3, [0, 50, 10, 70], [0, 50, 20, 70], red, v=(4, 0))
    d = _summary(4, 5, 20, [2, 50, 30, 70], [100, 50, 140, 70], red, v=(4, 0))
    c.left_at_border = d.entered_at_border = True
    assert rejoin([c, d], RejoinConfig(), 10.0)[1] == {3: 3, 4: 3}
