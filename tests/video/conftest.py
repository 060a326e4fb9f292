from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from synthetic import Vehicle, write_video  # noqa: E402


@pytest.fixture(scope="session")
def short_video(tmp_path_factory) -> tuple[Path, Path]:
    """40 frames, two vehicles entering from the sides, with MOT ground truth."""
    root = tmp_path_factory.mktemp("short")
    vehicles = [
        Vehicle(1, -40, 80, 7.0, 0.0, 44, 24, (0, 0, 230)),
        Vehicle(2, 330, 118, -6.0, 0.0, 40, 22, (230, 80, 0), start=2),
    ]
    video = write_video(root / "road.mp4", 40, vehicles, gt_path=root / "gt" / "road.txt")
    return video, root / "gt" / "road.txt"
