"""Rank-list pictures: the worst queries, green borders on correct matches and red on wrong ones."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from reid.evaluation.ranking import dot_similarity
from reid.evaluation.visualize import GREEN, RED, TILE, worst_queries, write_rank_lists
from reid.types import ImageRecord


def test_worst_queries_skip_excluded_and_break_ties_by_index() -> None:
    ap = np.array([0.5, np.nan, 0.2, 0.5, 1.0])
    assert worst_queries(ap, 3).tolist() == [2, 0, 3]
    assert worst_queries(ap, 0).tolist() == []


def test_rank_list_png_marks_matches(tmp_path: Path) -> None:
    paths = []
    for i in range(4):
        p = tmp_path / f"{i}.png"
        cv2.imwrite(str(p), np.full((20, 10, 3), 60 * i, np.uint8))
        paths.append(str(p))
    records = [ImageRecord(paths[i], label) for i, label in enumerate([1, 2, 1, 3])]
    feats = np.array([[1.0, 0.0], [0.9, 0.1], [0.5, 0.5], [0.0, 1.0]], np.float32)
    out = write_rank_lists(
        tmp_path / "vis", np.array([0]), records, records, dot_similarity(feats, feats), np.array([0.5, 1, 1, 1]), top=2,
        removed=None,
    )  # fmt: skip
    assert [p.name for p in out] == ["001_q0_ap50.0.png"]
    image = cv2.imread(str(out[0]))
    tile_w = TILE[0] + 8 + 6  # tile, 4-pixel border each side, gap
    y = 20 + 2  # below the title bar, inside the top border
    # query itself first (similarity 1.0, same label) -> green; then record 1 (label 2) -> red
    assert tuple(int(c) for c in image[y, tile_w * 1 + 2]) == GREEN
    assert tuple(int(c) for c in image[y, tile_w * 2 + 2]) == RED
