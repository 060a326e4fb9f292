"""Tracking scores of MOT rows: HOTA, DetA, AssA, LocA, IDF1, IDP, IDR and MOTA, all computed by TrackEval.

The numbers are TrackEval's own (the ``trackeval`` package: the upstream code of Luiten et al. with its NumPy 2
fixes). This module only turns rows of :func:`reid.motfile.read_mot` into the per-sequence dictionary TrackEval's
metrics take, the way TrackEval's MOTChallenge reader does: box IoU from TrackEval's own function, ids relabelled
to 0..n-1, one timestep per frame from 1 to the last frame with a box. Ignore rows are dropped by the reader
beforehand (``read_mot(..., truth=True)``), which is what TrackEval's MOTChallenge preprocessing does with
zero-marked rows; MOTChallenge's class filter (pedestrians only) does not apply to vehicles.

A sequence may be several cameras put one after another (``build_sequence`` with several parts): that is the
multi-camera protocol, where identities are global and a predicted identity that follows one vehicle in camera
A and another one in camera B is penalised like an identity switch.

HOTA, DetA, AssA and LocA are the means over TrackEval's 19 localisation thresholds (0.05 ... 0.95), as in
TrackEval's summaries; IDF1/IDP/IDR and MOTA match boxes at IoU >= ``iou`` (0.5 by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reid.errors import InputError


@dataclass
class TrackingScores:
    """Scores of one sequence (a camera, or cameras together); ratios in [0, 1], MOTA may be negative."""

    hota: float
    deta: float
    assa: float
    loca: float
    idf1: float
    idp: float
    idr: float
    mota: float
    idtp: int
    idfp: int
    idfn: int
    id_switches: int
    frames: int
    gt_ids: int
    pred_ids: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _trackeval_metrics(iou: float) -> tuple[Any, Any, Any]:
    if not 0.0 < iou <= 1.0:
        raise InputError(f"IoU threshold {iou} must be in (0, 1]", "check --iou")
    try:
        from trackeval.metrics import CLEAR, HOTA, Identity
    except ImportError as exc:
        raise InputError("the tracking metrics need TrackEval",
                         "pip install trackeval (a dependency of reid: reinstall it)") from exc
    # PRINT_CONFIG: TrackEval prints its settings by default; the library never prints
    return (HOTA(), CLEAR({"THRESHOLD": iou, "PRINT_CONFIG": False}),
            Identity({"THRESHOLD": iou, "PRINT_CONFIG": False}))


def _box_ious(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    from trackeval.datasets._base_dataset import _BaseDataset

    return _BaseDataset._calculate_box_ious(gt, pred, box_format="xywh")


def build_sequence(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """TrackEval's sequence data from ``(truth rows, predicted rows)`` parts (``read_mot`` arrays), in order.

    Each part contributes the frames 1 ... its last frame as timesteps; identities are shared across parts.
    """
    gt_all = np.concatenate([g[:, 1] for g, _ in parts]) if parts else np.zeros(0)
    pred_all = np.concatenate([p[:, 1] for _, p in parts]) if parts else np.zeros(0)
    gt_ids, gt_inverse = np.unique(gt_all.astype(np.int64), return_inverse=True)
    pred_ids, pred_inverse = np.unique(pred_all.astype(np.int64), return_inverse=True)
    data: dict[str, Any] = {"gt_ids": [], "tracker_ids": [], "similarity_scores": [],
                            "num_gt_ids": len(gt_ids), "num_tracker_ids": len(pred_ids),
                            "num_gt_dets": len(gt_all), "num_tracker_dets": len(pred_all)}
    g_start = p_start = 0
    for gt, pred in parts:
        g_index = gt_inverse[g_start:g_start + len(gt)]
        p_index = pred_inverse[p_start:p_start + len(pred)]
        g_start += len(gt)
        p_start += len(pred)
        last = int(max(gt[:, 0].max(initial=0), pred[:, 0].max(initial=0)))
        g_frames, p_frames = gt[:, 0].astype(np.int64), pred[:, 0].astype(np.int64)
        g_order, p_order = np.argsort(g_frames, kind="stable"), np.argsort(p_frames, kind="stable")
        g_bounds = np.searchsorted(g_frames[g_order], np.arange(1, last + 2))
        p_bounds = np.searchsorted(p_frames[p_order], np.arange(1, last + 2))
        for t in range(last):
            gi = g_order[g_bounds[t]:g_bounds[t + 1]]
            pi = p_order[p_bounds[t]:p_bounds[t + 1]]
            data["gt_ids"].append(g_index[gi].astype(int))
            data["tracker_ids"].append(p_index[pi].astype(int))
            data["similarity_scores"].append(_box_ious(gt[gi, 2:6].copy(), pred[pi, 2:6].copy()))
    data["num_timesteps"] = len(data["gt_ids"])
    return data


def _scores(hota: Mapping[str, Any], clear: Mapping[str, Any], ident: Mapping[str, Any], frames: int,
            gt_ids: int, pred_ids: int) -> TrackingScores:
    return TrackingScores(
        hota=float(np.mean(hota["HOTA"])), deta=float(np.mean(hota["DetA"])), assa=float(np.mean(hota["AssA"])),
        loca=float(np.mean(hota["LocA"])), idf1=float(ident["IDF1"]), idp=float(ident["IDP"]),
        idr=float(ident["IDR"]), mota=float(clear["MOTA"]), idtp=int(ident["IDTP"]), idfp=int(ident["IDFP"]),
        idfn=int(ident["IDFN"]), id_switches=int(clear["IDSW"]), frames=int(frames), gt_ids=int(gt_ids),
        pred_ids=int(pred_ids),
    )


def score_sequences(sequences: Mapping[str, dict[str, Any]], iou: float = 0.5,
                    ) -> tuple[dict[str, TrackingScores], TrackingScores]:
    """Scores of each sequence (``build_sequence`` data) and of all together, as TrackEval combines them
    (detection and identity counts summed, AssA weighted by each sequence's true positives)."""
    metrics = _trackeval_metrics(iou)
    raw: dict[str, list[dict[str, Any]]] = {name: [m.eval_sequence(data) for m in metrics]
                                            for name, data in sequences.items()}
    per = {name: _scores(*res, sequences[name]["num_timesteps"], sequences[name]["num_gt_ids"],
                         sequences[name]["num_tracker_ids"]) for name, res in raw.items()}
    combined = [m.combine_sequences({name: res[k] for name, res in raw.items()}) for k, m in enumerate(metrics)]
    total = _scores(*combined, sum(s.frames for s in per.values()), sum(s.gt_ids for s in per.values()),
                    sum(s.pred_ids for s in per.values()))
    return per, total


def score_sequence(data: dict[str, Any], iou: float = 0.5) -> TrackingScores:
    """Scores of one sequence."""
    return score_sequences({"sequence": data}, iou)[0]["sequence"]
