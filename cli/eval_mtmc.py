"""``reid eval mtmc``: cross-camera tracking metrics of a multi-camera run against ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def mtmc(
    pred: Annotated[Path, typer.Option("--pred", help="Predictions: a folder of MOT files, <camera>.txt with global "
                                                      "ids (e.g. the mot/ folder of 'reid track CAMERAS_DIR'), or "
                                                      "an AI City submission file with --format aic.")],
    gt: Annotated[Path, typer.Option("--gt", help="Ground truth: a folder of <camera>.txt MOT files with global ids, "
                                                  "a scene folder with gt/, a CityFlow scenario (<camera>/gt/gt.txt), "
                                                  "or an AI City ground-truth file.")],
    pred_format: Annotated[str, typer.Option("--format", help="Format of --pred: mot (a folder) or aic (one AI City "
                                                              "submission file).")] = "mot",
    iou: Annotated[float, typer.Option("--iou", help="Minimum box IoU of an IDF1 / MOTA match.")] = 0.5,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the metrics to this JSON file.")] = None,
    ceiling_check: Annotated[bool, typer.Option("--ceiling/--no-ceiling", help="Also report the IDF1 that perfect "
                                                "linking of the same tracklets would reach, per camera pair.")] = True,
) -> None:
    """HOTA, DetA, AssA, LocA, IDF1, IDP, IDR and MOTA across cameras (the AI City Challenge protocol), and
    each camera alone.

    All cameras are put one after another into one sequence, so an identity is right only when it is the same
    vehicle in every camera it appears in. The numbers come from TrackEval.
    """
    from rich import box
    from rich.table import Table

    from reid.evaluation.mtmc import evaluate_mtmc
    from reid.io import atomic_write_json

    from .common import check_json_out, console, err_console, progress, progress_callback
    from .eval_mot import COLUMNS, score_cells

    check_json_out(json_out, [pred, gt])
    with progress(transient=True) as bar:
        result = evaluate_mtmc(pred, gt, iou=iou, progress=progress_callback(bar, "cameras"), pred_format=pred_format)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=f"cross-camera tracking metrics ({len(result.cameras)} cameras, "
                        f"{result.num_gt_ids} true ids, {result.num_pred_ids} predicted; TrackEval)")
    for col in ("", *(c for c, _, _ in COLUMNS)):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_row("all", *score_cells(result), style="bold")
    for cam, scores in result.per_camera.items():
        table.add_row(cam, *score_cells(scores))
    console.print(table)
    console.print(f"all: the cameras as one sequence (IDTP {result.idtp}, IDFP {result.idfp}, IDFN {result.idfn} "
                  "boxes); the other rows: each camera alone")
    # --- linking ceiling (reid.gallery.ceiling): achieved IDF1 beside perfect linking of the same tracklets
    ceiling = None
    if ceiling_check and pred_format == "mot":
        from reid.gallery.ceiling import linking_ceiling

        from .linking import render_ceiling

        with progress(transient=True) as bar:
            ceiling = linking_ceiling(pred, gt, iou=iou, progress=progress_callback(bar, "linking ceiling"))
        render_ceiling(console, ceiling)
    # --- end of the linking ceiling
    for cam in result.missing_predictions:
        err_console.print(f"[yellow]warning:[/] no prediction for camera {cam}; counted as all missed")
    for cam in result.extra_predictions:
        err_console.print(f"[yellow]note:[/] predictions for camera {cam} have no ground truth and were ignored")
    if json_out is not None:
        doc = result.as_dict()
        if ceiling is not None:
            doc["ceiling"] = ceiling.as_dict()
        atomic_write_json(json_out, doc)
