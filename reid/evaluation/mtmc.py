"""Multi-target multi-camera (MTMC) identity metrics: cross-camera IDF1, IDP and IDR.

This is the AI City Challenge multi-camera metric: identities are global across all cameras, all cameras are
concatenated into one long sequence (each camera's frame numbers shifted past the previous camera's last frame),
and IDF1 is computed over that sequence with py-motmetrics. A predicted identity that follows one vehicle in
camera A and another vehicle in camera B is therefore penalised exactly like an identity switch inside a camera.

Inputs are MOTChallenge text files, one per camera, named ``<camera>.txt`` in a predictions folder and a ground
truth folder: ``frame, id, x, y, w, h, conf, ...`` (1-based frames, pixel boxes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reid.errors import InputError


@dataclass
class MTMCResult:
    """Cross-camera identity metrics (fractions in [0, 1]) and the counts they come from."""

    idf1: float
    idp: float
    idr: float
    idtp: int
    idfp: int
    idfn: int
    num_gt_ids: int
    num_pred_ids: int
    cameras: list[str] = field(default_factory=list)
    per_camera_idf1: dict[str, float] = field(default_factory=dict)
    missing_predictions: list[str] = field(default_factory=list)
    extra_predictions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _motmetrics():
    """Import py-motmetrics, restoring ``np.asfarray`` (removed in NumPy 2, still called by motmetrics 1.4)."""
    if not hasattr(np, "asfarray"):
        np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]
    try:
        import motmetrics
    except ImportError as exc:
        raise InputError(
            "the MTMC metric needs py-motmetrics",
            "pip install motmetrics (a dependency of reid: reinstall it)",
        ) from exc
    return motmetrics


def read_mot(path: str | Path) -> np.ndarray:
    """Rows ``(frame, id, x, y, w, h)`` (N, 6) float64 of a MOTChallenge file; an empty file gives (0, 6)."""
    path = Path(path)
    rows = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read MOT file {path}: {exc}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = line.replace(";", ",").split(",") if "," in line or ";" in line else line.split()
        try:
            values = [float(p) for p in parts[:6]]
        except ValueError:
            raise InputError(
                f"{path} line {number} is not a MOT row (frame, id, x, y, w, h, ...): {line[:60]!r}"
            ) from None
        if len(values) < 6:
            raise InputError(f"{path} line {number} has {len(values)} columns, a MOT row needs at least 6")
        rows.append(values)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 6)


def _mot_files(folder: Path, what: str, flag: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise InputError(f"{what} folder {folder} does not exist", f"check {flag}")
    files = {p.stem: p for p in sorted(folder.glob("*.txt"))}
    if not files:
        nested = {p.parent.parent.name: p for p in sorted(folder.glob("*/gt/gt.txt"))}
        files = nested
    if not files:
        raise InputError(f"{what} folder {folder} holds no MOT files (<camera>.txt)", f"check {flag}")
    return files


def _accumulate(mm, acc, gt: np.ndarray, pred: np.ndarray, offset: int, iou: float) -> None:
    frames = np.union1d(gt[:, 0], pred[:, 0]).astype(np.int64)
    gt_by = {f: gt[gt[:, 0] == f] for f in np.unique(gt[:, 0]).astype(np.int64)}
    pr_by = {f: pred[pred[:, 0] == f] for f in np.unique(pred[:, 0]).astype(np.int64)}
    empty = np.zeros((0, 6))
    for f in frames:
        g = gt_by.get(int(f), empty)
        p = pr_by.get(int(f), empty)
        dist = mm.distances.iou_matrix(g[:, 2:6], p[:, 2:6], max_iou=1.0 - iou)
        acc.update(
            g[:, 1].astype(np.int64).tolist(),
            p[:, 1].astype(np.int64).tolist(),
            dist,
            frameid=int(f) + offset,
        )


def evaluate_mtmc(
    pred_dir: str | Path, gt_dir: str | Path, iou: float = 0.5, per_camera: bool = True, progress=None
) -> MTMCResult:
    """Cross-camera IDF1/IDP/IDR of the MOT files in ``pred_dir`` against ``gt_dir`` (matched by camera name).

    A camera with ground truth but no prediction file counts as entirely missed; prediction files without
    ground truth are ignored (both are listed in the result). ``iou`` is the minimum box overlap of a match.
    """
    if not 0.0 < iou <= 1.0:
        raise InputError(f"IoU threshold {iou} must be in (0, 1]", "check --iou")
    mm = _motmetrics()
    pred_files = _mot_files(Path(pred_dir), "prediction", "--pred")
    gt_files = _mot_files(Path(gt_dir), "ground-truth", "--gt")
    cameras = sorted(gt_files)
    acc = mm.MOTAccumulator(auto_id=False)
    per: dict[str, float] = {}
    offset = 0
    for done, cam in enumerate(cameras):
        gt = read_mot(gt_files[cam])
        pred = read_mot(pred_files[cam]) if cam in pred_files else np.zeros((0, 6))
        _accumulate(mm, acc, gt, pred, offset, iou)
        if per_camera:
            single = mm.MOTAccumulator(auto_id=False)
            _accumulate(mm, single, gt, pred, 0, iou)
            per[cam] = _summary(mm, single)["idf1"]
        last = max(gt[:, 0].max() if len(gt) else 0, pred[:, 0].max() if len(pred) else 0)
        offset += int(last) + 1
        if progress is not None:
            progress(done + 1, len(cameras), camera=cam)
    s = _summary(mm, acc)
    gt_ids = set()
    pred_ids = set()
    for cam in cameras:
        gt_ids |= set(read_mot(gt_files[cam])[:, 1].astype(int).tolist())
        if cam in pred_files:
            pred_ids |= set(read_mot(pred_files[cam])[:, 1].astype(int).tolist())
    return MTMCResult(
        idf1=s["idf1"],
        idp=s["idp"],
        idr=s["idr"],
        idtp=int(s["idtp"]),
        idfp=int(s["idfp"]),
        idfn=int(s["idfn"]),
        num_gt_ids=len(gt_ids),
        num_pred_ids=len(pred_ids),
        cameras=cameras,
        per_camera_idf1=per,
        missing_predictions=[c for c in cameras if c not in pred_files],
        extra_predictions=sorted(set(pred_files) - set(gt_files)),
    )


def _summary(mm, acc) -> dict[str, float]:
    if acc.events.empty:
        return {"idf1": 0.0, "idp": 0.0, "idr": 0.0, "idtp": 0, "idfp": 0, "idfn": 0}
    mh = mm.metrics.create()
    frame = mh.compute(acc, metrics=["idf1", "idp", "idr", "idtp", "idfp", "idfn"], name="all")
    row = frame.loc["all"]
    return {k: (0.0 if np.isnan(float(row[k])) else float(row[k])) for k in frame.columns}
