"""Multi-target multi-camera (MTMC) tracking metrics: HOTA, DetA, AssA, LocA, IDF1, IDP, IDR and MOTA across cameras.

This is the AI City Challenge multi-camera protocol: identities are global across all cameras, all cameras are
put one after another into one long sequence, and the metrics are computed over that sequence by TrackEval
(:mod:`reid.evaluation.tracking`). A predicted identity that follows one vehicle in camera A and another vehicle
in camera B is therefore penalised exactly like an identity switch inside a camera. Each camera is also scored
alone (its single-camera numbers with the same global ids).

Predictions are MOTChallenge files (``<camera>.txt`` with global ids, e.g. the ``mot/`` folder of ``reid track
CAMERAS_DIR``) or one AI City submission file (``pred_format="aic"``). Ground truth is a folder of MOT files
(flat, a synthetic scene's ``gt/``, or a CityFlow scenario's ``<camera>/gt/gt.txt``) or an AI City
ground-truth file in the submission format. Files are read by :mod:`reid.motfile` (ignore rows of the truth
dropped) and :mod:`reid.multicam.aic`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid.errors import InputError
from reid.evaluation.tracking import TrackingScores, build_sequence, score_sequences
from reid.motfile import camera_files, read_mot

FORMATS = ("mot", "aic")
ALL = ""  # the key of the all-cameras sequence: no camera file is named by an empty stem


@dataclass
class MTMCResult:
    """Cross-camera metrics (fractions in [0, 1]), the counts they come from, and each camera alone.

    Fields are added with defaults, so the result grows without breaking callers.
    """

    idf1: float
    idp: float
    idr: float
    idtp: int
    idfp: int
    idfn: int
    num_gt_ids: int
    num_pred_ids: int
    hota: float = 0.0
    deta: float = 0.0
    assa: float = 0.0
    loca: float = 0.0
    mota: float = 0.0
    id_switches: int = 0
    cameras: list[str] = field(default_factory=list)
    per_camera: dict[str, TrackingScores] = field(default_factory=dict)
    missing_predictions: list[str] = field(default_factory=list)
    extra_predictions: list[str] = field(default_factory=list)

    @property
    def per_camera_idf1(self) -> dict[str, float]:
        return {cam: s.idf1 for cam, s in self.per_camera.items()}

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["per_camera"] = {cam: s.as_dict() for cam, s in self.per_camera.items()}
        return out


def _load_rows(path: Path, what: str, flag: str, aic: bool, names: list[str] | None = None,
               truth: bool = False) -> dict[str, np.ndarray]:
    """``{camera: rows}`` of a folder of MOT files, or of an AI City file (cameras named after ``names``)."""
    if aic:
        from reid.multicam.aic import read_submission

        if not path.is_file():
            raise InputError(f"{what} {path} is a folder, not an AI City file",
                             f"pass the file to {flag}, or drop --format aic for a folder of MOT files")
        return read_submission(path, names)
    if path.is_file():
        raise InputError(f"{what} {path} is a file, not a folder of MOT files",
                         f"pass a folder to {flag}" + (", or --format aic for an AI City file" if not truth else ""))
    return {cam: read_mot(p, truth=truth) for cam, p in camera_files(path, what, flag).items()}


def evaluate_mtmc(
    pred_dir: str | Path, gt_dir: str | Path, iou: float = 0.5, per_camera: bool = True, progress=None,
    pred_format: str = "mot",
) -> MTMCResult:
    """Cross-camera metrics of the predictions in ``pred_dir`` against ``gt_dir`` (matched by camera name).

    A camera with ground truth but no prediction counts as entirely missed; predictions without ground truth
    are ignored (both are listed in the result). ``iou`` is the minimum box overlap of an IDF1/MOTA match.
    ``pred_format`` is ``mot`` (a folder of MOT files) or ``aic`` (one AI City submission file); a ``gt_dir``
    that is a file is read as AI City ground truth.
    """
    if pred_format not in FORMATS:
        raise InputError(f"unknown prediction format {pred_format!r}", f"--format takes {' or '.join(FORMATS)}")
    if not 0.0 < iou <= 1.0:
        raise InputError(f"IoU threshold {iou} must be in (0, 1]", "check --iou")
    gt_path, pred_path = Path(gt_dir), Path(pred_dir)
    for path, what, flag in ((pred_path, "prediction", "--pred"), (gt_path, "ground-truth", "--gt")):
        if not path.exists():
            raise InputError(f"{what} {'file' if flag == '--pred' and pred_format == 'aic' else 'folder'} {path} "
                             "does not exist", f"check {flag}")
    gt_aic = gt_path.is_file()
    pred_folder_names = (sorted(camera_files(pred_path, "prediction", "--pred"))
                         if gt_aic and pred_format == "mot" else None)
    truth = _load_rows(gt_path, "ground-truth", "--gt", gt_aic, pred_folder_names, truth=True)
    pred = _load_rows(pred_path, "prediction", "--pred", pred_format == "aic", sorted(truth))
    cameras = sorted(truth)
    empty = np.zeros((0, 7))
    parts = [(truth[cam], pred.get(cam, empty)) for cam in cameras]
    sequences = {ALL: build_sequence(parts)}
    for done, (cam, part) in enumerate(zip(cameras, parts, strict=True), 1):
        if per_camera:
            sequences[cam] = build_sequence([part])
        if progress is not None:
            progress(done, len(cameras), camera=cam)
    scores, _ = score_sequences(sequences, iou)
    s = scores.pop(ALL)
    return MTMCResult(
        idf1=s.idf1, idp=s.idp, idr=s.idr, idtp=s.idtp, idfp=s.idfp, idfn=s.idfn, num_gt_ids=s.gt_ids,
        num_pred_ids=s.pred_ids,
        hota=s.hota, deta=s.deta, assa=s.assa, loca=s.loca, mota=s.mota, id_switches=s.id_switches,
        cameras=cameras, per_camera=scores,
        missing_predictions=[c for c in cameras if c not in pred],
        extra_predictions=sorted(set(pred) - set(truth)),
    )
