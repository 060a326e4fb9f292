"""Choosing the linking threshold on a labelled scene.

The right cosine threshold depends on the embedding network, so it is measured rather than guessed: the
tracklets of a labelled run (e.g. ``reid track`` on a synthetic scene, whose ground truth has global ids) get
their true identity by matching their boxes to the ground truth at IoU >= 0.5, then linking is repeated for a
range of thresholds and each result is scored. Two scores are offered:

* ``idf1``: tracklet-level identity F1 over all cameras (boxes as weights), the quantity ``reid eval mtmc``
  reports, computed without re-reading MOT files for each threshold;
* ``pairwise_f1``: precision and recall of "these two tracklets are one vehicle" over all tracklet pairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reid.errors import InputError
from reid.gallery.config import LinkConfig
from reid.gallery.linker import Sighting, link

METRICS = ("idf1", "pairwise_f1")


@dataclass
class ThresholdScore:
    threshold: float
    idf1: float
    pairwise_f1: float
    pairwise_precision: float
    pairwise_recall: float
    identities: int


@dataclass
class Calibration:
    """The best threshold for ``metric`` and the score of every threshold tried."""

    metric: str
    best: ThresholdScore
    scores: list[ThresholdScore] = field(default_factory=list)
    labelled: int = 0
    unlabelled: int = 0
    true_identities: int = 0


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of (N, 4) and (M, 4) boxes given as left, top, width, height."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, 0, None], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, 1, None], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-9)


def label_tracks(pred_mot: str | Path, gt_mot: str | Path, iou: float = 0.5) -> dict[int, int]:
    """``{track_id: gt_id}`` for a camera: each predicted box is matched to a ground-truth box per frame
    (Hungarian on IoU, at least ``iou``) and a track takes the ground-truth id most of its boxes matched;
    a track matching nothing (a false track) gets -1. Ignore rows of the truth are dropped (reid.motfile)."""
    from scipy.optimize import linear_sum_assignment

    from reid.motfile import read_mot

    pred, gt = read_mot(pred_mot), read_mot(gt_mot, truth=True)
    votes: dict[int, Counter] = {}
    gt_frames = {int(f): gt[gt[:, 0] == f] for f in np.unique(gt[:, 0])}
    for f in np.unique(pred[:, 0]):
        p = pred[pred[:, 0] == f]
        for tid in p[:, 1].astype(int):
            votes.setdefault(int(tid), Counter())
        g = gt_frames.get(int(f))
        if g is None or not len(g):
            continue
        overlap = _iou(p[:, 2:6], g[:, 2:6])
        rows, cols = linear_sum_assignment(-overlap)
        for r, c in zip(rows, cols, strict=True):
            if overlap[r, c] >= iou:
                votes[int(p[r, 1])][int(g[c, 1])] += 1
    return {tid: (c.most_common(1)[0][0] if c else -1) for tid, c in votes.items()}


def identity_scores(pred: Sequence[int], truth: Sequence[int], weights: Sequence[float]) -> tuple[float, float, float, float]:
    """(idf1, pairwise F1, pairwise precision, pairwise recall) of predicted vs true tracklet identities.

    Truth -1 marks a false tracklet: its boxes count as false positives for IDF1 and it takes no part in pairs.
    """
    from scipy.optimize import linear_sum_assignment

    pred = np.asarray(pred, np.int64)
    truth = np.asarray(truth, np.int64)
    w = np.asarray(weights, np.float64)
    labelled = truth >= 0
    p_ids, p_inv = np.unique(pred, return_inverse=True)
    t_ids, t_inv = np.unique(truth[labelled], return_inverse=True)
    overlap = np.zeros((len(p_ids), len(t_ids)))
    np.add.at(overlap, (p_inv[labelled], t_inv), w[labelled])
    if overlap.size:
        r, c = linear_sum_assignment(-overlap)
        idtp = overlap[r, c].sum()
    else:
        idtp = 0.0
    denom = w.sum() + w[labelled].sum()
    idf1 = float(2 * idtp / denom) if denom > 0 else 0.0
    # pairwise over labelled tracklets, from the contingency table of counts
    counts = np.zeros((len(p_ids), len(t_ids)))
    np.add.at(counts, (p_inv[labelled], t_inv), 1)

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2).sum())

    tp, pred_pairs, true_pairs = pairs(counts), pairs(counts.sum(1)), pairs(counts.sum(0))
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return idf1, f1, precision, recall


def calibrate(sightings: Sequence[Sighting], truth: Sequence[int], cfg: LinkConfig, topology=None,
              thresholds: Sequence[float] | None = None, metric: str = "idf1", progress=None) -> Calibration:
    """Link ``sightings`` at each threshold and score against ``truth``; the best threshold wins (ties: the
    higher threshold, which links less and so errs towards fewer wrong merges)."""
    if metric not in METRICS:
        raise InputError(f"unknown calibration metric {metric!r}", f"valid: {', '.join(METRICS)}")
    if len(sightings) != len(truth):
        raise ValueError("calibrate: one true identity per sighting")
    if not any(t >= 0 for t in truth):
        raise InputError("no tracklet overlaps the ground truth, so there is nothing to calibrate on",
                         "check that the run and the ground truth are of the same scene")
    values = list(thresholds) if thresholds is not None else [round(x, 3) for x in np.linspace(0.2, 0.95, 16)]
    weights = [max(1, s.num_boxes) for s in sightings]
    scores = []
    for i, th in enumerate(values):
        result = link(sightings, cfg.model_copy(update={"threshold": float(th)}), topology)
        idf1, f1, p, r = identity_scores(result.identities, truth, weights)
        scores.append(ThresholdScore(float(th), idf1, f1, p, r, len(set(result.identities))))
        if progress is not None:
            progress(i + 1, len(values), threshold=float(th))
    best = max(scores, key=lambda s: (getattr(s, metric), s.threshold))
    return Calibration(metric, best, scores, labelled=sum(t >= 0 for t in truth),
                       unlabelled=sum(t < 0 for t in truth), true_identities=len({t for t in truth if t >= 0}))


def calibrate_run(run_dir: str | Path, gt_dir: str | Path, cfg: LinkConfig, topology=None,
                  thresholds: Sequence[float] | None = None, metric: str = "idf1", progress=None) -> Calibration:
    """Calibrate on a finished camera-folder run (``reid track CAMERAS_DIR --out RUN``) and its ground truth."""
    sightings, truth = labelled_sightings(run_dir, gt_dir)
    return calibrate(sightings, truth, cfg, topology, thresholds, metric, progress)


def score_linking(sightings: Sequence[Sighting], truth: Sequence[int], cfg: LinkConfig,
                  topology=None) -> ThresholdScore:
    """Link once with ``cfg`` (its own threshold, ``auto`` included) and score the result against ``truth``."""
    result = link(sightings, cfg, topology)
    idf1, f1, p, r = identity_scores(result.identities, truth, [max(1, s.num_boxes) for s in sightings])
    used = result.report.calibration.threshold if result.report is not None else float("nan")
    return ThresholdScore(float(used), idf1, f1, p, r, len(set(result.identities)))


def labelled_sightings(run_dir: str | Path, gt_dir: str | Path) -> tuple[list[Sighting], list[int]]:
    """The tracklets of a finished camera-folder run as the linker sees them, and the true identity of each
    (matched to the ground truth box by box, :func:`label_tracks`; -1 for a false tracklet)."""
    from reid.gallery.flows import run_motions
    from reid.motfile import camera_files
    from reid.multicam.manifest import load_tracklets
    from reid.video.writers import mot_path

    run = Path(run_dir)
    gt = Path(gt_dir)
    manifest_path = run / "manifest.json"
    if not manifest_path.is_file():
        raise InputError(f"{run} is not a camera-folder run (no manifest.json)", "run reid track CAMERAS_DIR first")
    import json

    cameras = sorted(json.loads(manifest_path.read_text(encoding="utf-8")).get("cameras", {}))
    if not cameras:
        raise InputError(f"run {run} has no finished camera", "run reid track CAMERAS_DIR again to finish it")
    sightings: list[Sighting] = []
    truth: list[int] = []
    truth_files = camera_files(gt, "ground-truth", "--scene / --gt")
    motions = run_motions(run / "cameras", cameras)
    for cam in cameras:
        gt_file = truth_files.get(cam)
        if gt_file is None:
            raise InputError(f"ground truth {gt / f'{cam}.txt'} for camera {cam} does not exist", "check --scene / --gt")
        labels = label_tracks(mot_path(run / "cameras" / cam, cam), gt_file)
        for t in load_tracklets(run, cam):
            sightings.append(Sighting(cam, t.first_time, t.last_time, t.feature, key=(cam, t.track_id),
                                      num_boxes=t.num_boxes, motion=motions.get((cam, t.track_id))))
            truth.append(labels.get(t.track_id, -1))
    return sightings, truth
