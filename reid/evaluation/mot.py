"""Single-camera tracking metrics (IDF1, IDP, IDR, MOTA, ID switches) through py-motmetrics.

Prediction and ground truth are folders of MOTChallenge files, one ``<camera>.txt`` per camera, matched by
name. Boxes are matched at IoU >= 0.5 (``1 - max_iou`` distance 0.5, the MOTChallenge convention). Ground truth
rows whose 7th column is 0 are "do not consider" rows in MOTChallenge and are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.errors import InputError

METRICS = ("idf1", "idp", "idr", "mota", "num_switches", "num_frames", "num_unique_objects")


@dataclass
class MotScores:
    """Metrics of one camera (or ``overall``); ratios in [0, 1] (MOTA may be negative)."""

    name: str
    idf1: float
    idp: float
    idr: float
    mota: float
    id_switches: int
    frames: int
    gt_ids: int

    def as_dict(self) -> dict[str, float | int | str]:
        return dict(self.__dict__)


def _motmetrics():
    """Import py-motmetrics, restoring ``np.asfarray`` (removed in NumPy 2) that motmetrics 1.4 still calls."""
    if not hasattr(np, "asfarray"):
        np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]
    try:
        import motmetrics as mm
    except ImportError as exc:
        raise InputError(
            "py-motmetrics is not installed", "pip install motmetrics (a dependency of reid: reinstall it)"
        ) from exc
    return mm


def _load(path: Path, gt: bool) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    from reid.video.writers import read_mot

    rows = read_mot(path)
    if gt:
        rows = rows[rows[:, 6] != 0]
    frames: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for f in np.unique(rows[:, 0]).astype(int):
        sel = rows[rows[:, 0] == f]
        frames[int(f)] = (sel[:, 1].astype(np.int64), sel[:, 2:6])
    return frames


def accumulate(pred_file: Path, gt_file: Path, iou: float = 0.5, frames: set[int] | None = None):
    """A ``motmetrics.MOTAccumulator`` over every ground-truth frame (and every predicted one).

    ``frames`` restricts evaluation to those frame numbers (e.g. every n-th one after ``--vid-stride``).
    """
    mm = _motmetrics()
    gt = _load(gt_file, gt=True)
    pred = _load(pred_file, gt=False)
    acc = mm.MOTAccumulator(auto_id=True)
    empty = (np.zeros(0, np.int64), np.zeros((0, 4)))
    for f in sorted(set(gt) | set(pred)):
        if frames is not None and f not in frames:
            continue
        g_ids, g_boxes = gt.get(f, empty)
        p_ids, p_boxes = pred.get(f, empty)
        dist = mm.distances.iou_matrix(g_boxes, p_boxes, max_iou=1.0 - iou)
        acc.update(g_ids, p_ids, dist)
    return acc


def evaluate_mot(
    pred_dir: Path,
    gt_dir: Path,
    iou: float = 0.5,
    progress: Callable[..., None] | None = None,
) -> list[MotScores]:
    """Scores per camera (named by file stem) and ``overall`` last. Every GT camera needs a prediction file."""
    pred_dir, gt_dir = Path(pred_dir), Path(gt_dir)
    for folder, flag in ((pred_dir, "--pred"), (gt_dir, "--gt")):
        if not folder.is_dir():
            raise InputError(f"{flag} folder {folder} does not exist")
    # accept an output folder of `reid track` (with mot/ inside) as well as the MOT folder itself
    if not any(pred_dir.glob("*.txt")) and (pred_dir / "mot").is_dir():
        pred_dir = pred_dir / "mot"
    if not any(gt_dir.glob("*.txt")) and (gt_dir / "gt").is_dir():
        gt_dir = gt_dir / "gt"
    gt_files = sorted(gt_dir.glob("*.txt"))
    if not gt_files:
        raise InputError(f"--gt folder {gt_dir} holds no MOTChallenge <camera>.txt files")
    missing = [g.stem for g in gt_files if not (pred_dir / g.name).is_file()]
    if missing:
        raise InputError(
            f"--pred folder {pred_dir} has no prediction for camera(s) {', '.join(missing)}",
            "run reid track on those cameras, or point --gt at a folder with only the tracked cameras",
        )
    mm = _motmetrics()
    accs, names = [], []
    for n, g in enumerate(gt_files, 1):
        accs.append(accumulate(pred_dir / g.name, g, iou))
        names.append(g.stem)
        if progress is not None:
            progress(n, len(gt_files), camera=g.stem)
    mh = mm.metrics.create()
    summary = mh.compute_many(accs, metrics=list(METRICS), names=names, generate_overall=True)
    out = []
    for name, row in summary.iterrows():
        out.append(
            MotScores(
                name=str(name),
                idf1=_f(row["idf1"]),
                idp=_f(row["idp"]),
                idr=_f(row["idr"]),
                mota=_f(row["mota"]),
                id_switches=int(row["num_switches"]),
                frames=int(row["num_frames"]),
                gt_ids=int(row["num_unique_objects"]),
            )
        )
    return out


def _f(value: float) -> float:
    value = float(value)
    return 0.0 if np.isnan(value) else value
