"""The linking ceiling: the cross-camera IDF1 that perfect linking of the same tracklets would reach.

Cross-camera IDF1 mixes two kinds of error: single-camera tracking (missed boxes, false tracks, tracks that
cover two vehicles) and linking (the wrong tracklets given one identity). Relabelling every tracklet with the
ground-truth identity it overlaps most (boxes matched at IoU >= 0.5, per frame, as
:func:`reid.gallery.calibrate.label_tracks` does; a tracklet that matches no true box keeps an identity of its
own) removes the linking errors and keeps the tracking ones: the IDF1 of that relabelling is the best any
linker could do with these tracklets. Achieved / ceiling then says how much of what tracking allows the
linking reached, overall and for each pair of cameras, and so whether to improve tracking or linking.

The tracklets are the run's local-id MOT files (``<run>/cameras/<camera>/mot/<camera>.txt``, written by
``reid track CAMERAS_DIR``) when the predictions are a run's ``mot/`` folder; otherwise each predicted
identity of each camera is taken as one tracklet.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from reid.errors import InputError


@dataclass
class PairCeiling:
    """Achieved and ceiling cross-camera IDF1 of two cameras evaluated together."""

    a: str
    b: str
    achieved: float
    ceiling: float

    @property
    def ratio(self) -> float | None:
        return self.achieved / self.ceiling if self.ceiling > 0 else None


@dataclass
class LinkingCeiling:
    """Achieved IDF1, the ceiling of perfect linking, and the same per camera pair (fractions in [0, 1])."""

    achieved: float
    ceiling: float
    tracklets: int
    false_tracklets: int
    source: str
    pairs: list[PairCeiling] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        return self.achieved / self.ceiling if self.ceiling > 0 else None

    def as_dict(self) -> dict:
        doc = asdict(self)
        doc["ratio"] = self.ratio
        for pair, row in zip(self.pairs, doc["pairs"], strict=True):
            row["ratio"] = pair.ratio
        return doc


def tracklet_files(pred_dir: Path, cameras: list[str]) -> tuple[dict[str, Path], str]:
    """Each camera's tracklet MOT file (local ids) and a word saying where they came from."""
    from reid.video.writers import mot_path

    run = Path(pred_dir).resolve().parent
    local = {cam: mot_path(run / "cameras" / cam, cam) for cam in cameras}
    if cameras and all(p.is_file() for p in local.values()):
        return local, "run tracklets"
    return {cam: Path(pred_dir) / f"{cam}.txt" for cam in cameras}, "predicted identities"


def truth_labels(tracks: dict[str, Path], gt_files: dict[str, Path],
                 iou: float) -> tuple[dict[str, dict[int, int]], int]:
    """``({camera: {track_id: true id}}, false tracks)``; a track matching no true box (a false track) gets an id
    that no true vehicle has."""
    from reid.evaluation.mtmc import read_mot
    from reid.gallery.calibrate import label_tracks

    labels = {cam: label_tracks(path, gt_files[cam], iou) for cam, path in tracks.items()}
    truths = [read_mot(p) for p in gt_files.values()]
    spare = itertools.count(max((int(t[:, 1].max()) for t in truths if len(t)), default=0) + 1)
    false = sum(1 for m in labels.values() for gid in m.values() if gid < 0)
    return ({cam: {tid: (gid if gid >= 0 else next(spare)) for tid, gid in sorted(m.items())}
             for cam, m in labels.items()}, false)


def _stage(folder: Path, files: dict[str, Path], mapping: dict[str, dict[int, int]] | None = None) -> Path:
    """Copy ``files`` into ``folder`` as ``<camera>.txt``, relabelled with ``mapping`` when given."""
    from reid.video.writers import relabel_mot

    folder.mkdir(parents=True, exist_ok=True)
    for cam, path in files.items():
        target = folder / f"{cam}.txt"
        shutil.copyfile(path, target)
        if mapping is not None:
            relabel_mot(target, mapping.get(cam, {}))
    return folder


def linking_ceiling(pred_dir: str | Path, gt_dir: str | Path, iou: float = 0.5, pairs: bool = True,
                    progress: Callable[..., None] | None = None) -> LinkingCeiling:
    """Achieved cross-camera IDF1 of ``pred_dir`` against ``gt_dir``, the ceiling of perfect linking of the same
    tracklets, and both for every pair of cameras (see the module docstring)."""
    from reid.motfile import camera_files

    pred, gt = Path(pred_dir), Path(gt_dir)
    if not pred.is_dir():
        raise InputError(f"prediction folder {pred} does not exist", "check --pred")
    gt_files = camera_files(gt, "ground-truth", "--gt")  # every layout eval mtmc reads (gt/, CityFlow, ...)
    cameras = list(gt_files)
    predicted = [c for c in cameras if (pred / f"{c}.txt").is_file()]
    if not predicted:
        raise InputError(f"no camera has both a prediction in {pred} and ground truth in {gt}",
                         "check --pred and --gt (files <camera>.txt)")
    tracks, source = tracklet_files(pred, predicted)
    labels, false = truth_labels(tracks, gt_files, iou)
    # a camera without predictions counts as all missed, in the achieved score and the ceiling alike
    groups = [tuple(cameras)] + (list(itertools.combinations(cameras, 2)) if pairs and len(cameras) > 2 else [])
    scores: dict[tuple[str, ...], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="reid-ceiling-") as tmp:
        root = Path(tmp)
        for k, group in enumerate(groups):
            truth = _stage(root / f"{k}-gt", {c: gt_files[c] for c in group})
            achieved = _stage(root / f"{k}-pred", {c: pred / f"{c}.txt" for c in group if c in tracks})
            ceiling = _stage(root / f"{k}-ceiling", {c: tracks[c] for c in group if c in tracks}, labels)
            scores[group] = (_idf1(achieved, truth, iou), _idf1(ceiling, truth, iou))
            if progress is not None:
                progress(k + 1, len(groups))
    overall = scores[tuple(cameras)]
    rows = [PairCeiling(g[0], g[1], *scores[g]) for g in groups[1:]]
    if len(cameras) == 2:
        rows = [PairCeiling(cameras[0], cameras[1], *overall)]
    return LinkingCeiling(overall[0], overall[1], sum(len(m) for m in labels.values()), false, source, rows)


def relabelled_idf1(tracks: dict[str, Path], mapping: dict[str, dict[int, int]], gt_dir: str | Path,
                    iou: float = 0.5) -> float:
    """Cross-camera IDF1 of the tracklet MOT files ``tracks`` (camera -> local-id file) relabelled with
    ``mapping`` (camera -> {track id: global id}) against ``gt_dir``: how a linking of a run's tracklets scores,
    without writing anything into the run (benchmarks and experiments link the same tracklets many times)."""
    gt = Path(gt_dir)
    gt_files = {p.stem: p for p in sorted(gt.glob("*.txt"))}
    with tempfile.TemporaryDirectory(prefix="reid-relabel-") as tmp:
        pred = _stage(Path(tmp) / "pred", {c: p for c, p in tracks.items() if c in gt_files}, mapping)
        return _idf1(pred, _stage(Path(tmp) / "gt", gt_files), iou)


def _idf1(pred: Path, gt: Path, iou: float) -> float:
    """Cross-camera IDF1 of a staged folder; a folder with no prediction file at all scores 0."""
    from reid.evaluation.mtmc import evaluate_mtmc

    if not any(pred.glob("*.txt")):
        return 0.0
    return evaluate_mtmc(pred, gt, iou, per_camera=False).idf1
