"""Single-camera tracking metrics per camera and overall: HOTA, DetA, AssA, LocA, IDF1, IDP, IDR, MOTA, ID switches.

Prediction and ground truth are MOTChallenge files, one per camera, matched by camera name; they are read by
:mod:`reid.motfile` (ignore rows of the truth dropped) and scored by TrackEval (:mod:`reid.evaluation.tracking`).
Boxes count as matched for IDF1 and MOTA at IoU >= 0.5 by default; HOTA averages over TrackEval's thresholds.
The ``overall`` row is TrackEval's combination of the cameras (counts summed), not a mean of the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reid.errors import InputError
from reid.evaluation.tracking import TrackingScores, build_sequence, score_sequences
from reid.motfile import camera_files, read_mot

OVERALL = "OVERALL"


@dataclass
class MotScores(TrackingScores):
    """Scores of one camera, or of all cameras together when ``name`` is ``OVERALL``."""

    name: str = ""


def evaluate_mot(
    pred_dir: Path,
    gt_dir: Path,
    iou: float = 0.5,
    progress: Callable[..., None] | None = None,
) -> list[MotScores]:
    """Scores per camera (named by file stem) and ``OVERALL`` last. Every truth camera needs a prediction file.

    ``pred_dir`` may be a folder of ``<camera>.txt`` or a ``reid track`` output folder (``mot/`` inside);
    ``gt_dir`` a folder of ``<camera>.txt``, a synthetic scene (``gt/`` inside) or a CityFlow scenario
    (``<camera>/gt/gt.txt``).
    """
    gt_files = camera_files(gt_dir, "--gt", "--gt")
    pred_files = camera_files(pred_dir, "--pred", "--pred")
    missing = [cam for cam in gt_files if cam not in pred_files]
    if missing:
        raise InputError(
            f"--pred folder {pred_dir} has no prediction for camera(s) {', '.join(missing)}",
            "run reid track on those cameras, or point --gt at a folder with only the tracked cameras",
        )
    sequences = {}
    for n, (cam, gt_file) in enumerate(gt_files.items(), 1):
        sequences[cam] = build_sequence([(read_mot(gt_file, truth=True), read_mot(pred_files[cam]))])
        if progress is not None:
            progress(n, len(gt_files), camera=cam)
    per, total = score_sequences(sequences, iou)
    rows = [MotScores(**s.as_dict(), name=cam) for cam, s in per.items()]
    return rows + [MotScores(**total.as_dict(), name=OVERALL)]
