"""Region of interest: the bottom-centre rule, the filter stage between detector and tracker, its errors, and a
tracked video in which no box outside the region ever reaches a track."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from synthetic import H, Vehicle, W, write_video

from reid.errors import InputError
from reid.types import Detections
from reid.video.config import TrackConfig
from reid.video.pipeline import track_video
from reid.video.roi import RegionFilter, inside, load_mask
from reid.video.writers import read_mot


def left_half_black(path: Path, width: int = W, height: int = H, cut: int = W // 2) -> Path:
    mask = np.full((height, width), 255, np.uint8)
    mask[:, :cut] = 0
    cv2.imwrite(str(path), mask)
    return path


class FixedDetector:
    names = {2: "car"}

    def __init__(self, dets: Detections) -> None:
        self.dets = dets

    def detect(self, frames):  # noqa: ANN001, ANN201
        return [self.dets for _ in frames]


def test_the_bottom_centre_decides() -> None:
    mask = np.zeros((10, 10), bool)
    mask[5:, 5:] = True  # white bottom-right quarter
    boxes = np.array([[4, 0, 8, 6],    # bottom centre (6, 5): inside
                      [0, 0, 8, 6],    # (4, 5): left of the region
                      [4, 0, 8, 5],    # bottom row 4: above the region
                      [8, 8, 30, 30]])  # leaves the frame: clipped to (9, 9), inside
    assert inside(mask, boxes).tolist() == [True, False, False, True]


def test_filter_drops_outside_detections_and_counts_them(tmp_path: Path) -> None:
    dets = Detections(np.array([[200, 50, 240, 80], [10, 50, 50, 80]]), np.array([0.9, 0.8]), np.array([2, 2]))
    region = RegionFilter(FixedDetector(dets), left_half_black(tmp_path / "roi.jpg"))
    frame = np.zeros((H, W, 3), np.uint8)
    out = region.detect([frame, frame])
    assert [len(d) for d in out] == [1, 1] and out[0].boxes[0].tolist() == [200, 50, 240, 80]
    assert out[0].scores.tolist() == pytest.approx([0.9]) and region.dropped == 2 and region.names == {2: "car"}
    with pytest.raises(InputError, match="320x192 pixels but the video frames are 100x50"):
        region.detect([np.zeros((50, 100, 3), np.uint8)])


def test_bad_masks_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_mask(tmp_path / "none.jpg")
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    with pytest.raises(InputError, match="not an image"):
        load_mask(tmp_path / "junk.jpg")
    cv2.imwrite(str(tmp_path / "black.png"), np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="black everywhere"):
        load_mask(tmp_path / "black.png")


def test_no_box_outside_the_region_reaches_a_track(tmp_path: Path) -> None:
    # two vehicles cross the whole frame from opposite sides; the left half is outside the region
    vehicles = [Vehicle(1, -40, 80, 9.0, 0.0, 44, 24, (0, 0, 230)),
                Vehicle(2, 330, 118, -9.0, 0.0, 40, 22, (230, 80, 0), start=2)]
    video = write_video(tmp_path / "road.mp4", 40, vehicles)
    mask_path = left_half_black(tmp_path / "roi.png")
    mask = load_mask(mask_path)

    def outside_rows(out: Path, roi: str | None) -> tuple[int, int]:
        out.mkdir()
        result = track_video(video, "road", TrackConfig(detector="motion", roi=roi), None, out)
        rows = read_mot(result.mot_path)
        boxes = np.column_stack([rows[:, 2], rows[:, 3], rows[:, 2] + rows[:, 4], rows[:, 3] + rows[:, 5]])
        return len(rows), int((~inside(mask, boxes)).sum())

    total, outside = outside_rows(tmp_path / "plain", None)
    assert total > 0 and outside > 0, "without the region the vehicles are tracked in the left half too"
    total, outside = outside_rows(tmp_path / "roi", str(mask_path))
    assert total > 0 and outside == 0
