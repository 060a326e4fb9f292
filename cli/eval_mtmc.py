"""``reid eval mtmc``: cross-camera identity metrics of a multi-camera run against ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def mtmc(
    pred: Annotated[Path, typer.Option("--pred", help="Folder of predicted MOT files, <camera>.txt with global ids "
                                                      "(e.g. the mot/ folder of 'reid track CAMERAS_DIR').")],
    gt: Annotated[Path, typer.Option("--gt", help="Folder of ground-truth MOT files, <camera>.txt with global ids.")],
    iou: Annotated[float, typer.Option("--iou", help="Minimum box IoU of a match.")] = 0.5,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the metrics to this JSON file.")] = None,
    ceiling_check: Annotated[bool, typer.Option("--ceiling/--no-ceiling", help="Also report the IDF1 that perfect "
                                                "linking of the same tracklets would reach, per camera pair.")] = True,
) -> None:
    """Cross-camera IDF1, IDP and IDR (the AI City Challenge multi-camera metric).

    All cameras are concatenated into one sequence, so an identity is right only when it is the same vehicle in
    every camera it appears in.
    """
    from rich.table import Table

    from reid.evaluation.mtmc import evaluate_mtmc
    from reid.io import atomic_write_json

    from .common import console, err_console, progress, progress_callback

    with progress(transient=True) as bar:
        result = evaluate_mtmc(pred, gt, iou=iou, progress=progress_callback(bar, "cameras"))
    table = Table(title=f"cross-camera identity metrics ({len(result.cameras)} cameras, "
                        f"{result.num_gt_ids} true ids, {result.num_pred_ids} predicted)")
    for col in ("", "IDF1", "IDP", "IDR", "IDTP", "IDFP", "IDFN"):
        table.add_column(col, justify="right")
    table.add_row("all cameras", f"{100 * result.idf1:.2f}", f"{100 * result.idp:.2f}", f"{100 * result.idr:.2f}",
                  str(result.idtp), str(result.idfp), str(result.idfn), style="bold")
    for cam, value in result.per_camera_idf1.items():
        table.add_row(f"{cam} alone", f"{100 * value:.2f}", "", "", "", "", "")
    console.print(table)
    # --- linking ceiling (reid.gallery.ceiling): achieved IDF1 beside perfect linking of the same tracklets
    ceiling = None
    if ceiling_check:
        from reid.gallery.ceiling import linking_ceiling

        from .linking import render_ceiling

        with progress(transient=True) as bar:
            ceiling = linking_ceiling(pred, gt, iou=iou, progress=progress_callback(bar, "linking ceiling"))
        render_ceiling(console, ceiling)
    # --- end of the linking ceiling
    for cam in result.missing_predictions:
        err_console.print(f"[yellow]warning:[/] no prediction file for camera {cam}; counted as all missed")
    for cam in result.extra_predictions:
        err_console.print(f"[yellow]note:[/] prediction file {cam}.txt has no ground truth and was ignored")
    if json_out is not None:
        doc = result.as_dict()
        if ceiling is not None:
            doc["ceiling"] = ceiling.as_dict()
        atomic_write_json(json_out, doc)
