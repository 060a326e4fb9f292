"""``reid eval mot``: single-camera tracking metrics of ``reid track`` output against MOTChallenge ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def mot(
    pred: Annotated[
        Path,
        typer.Option(
            "--pred", help="Folder of predicted <camera>.txt MOT files (or a 'reid track' --out folder)."
        ),
    ],
    gt: Annotated[Path, typer.Option("--gt", help="Folder of ground-truth <camera>.txt MOT files.")],
    iou: Annotated[float, typer.Option("--iou", help="Minimum box IoU of a match.")] = 0.5,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the metrics to this JSON file.")
    ] = None,
) -> None:
    """IDF1, IDP, IDR, MOTA and ID switches per camera and overall (py-motmetrics, IoU >= 0.5 matches).

    Files are matched by name; every ground-truth camera needs a prediction file.
    """
    from rich.table import Table

    from reid.errors import InputError
    from reid.evaluation.mot import evaluate_mot
    from reid.io import atomic_write_json

    from .common import console, progress, progress_callback

    if not 0.0 < iou <= 1.0:
        raise InputError(f"--iou must be in (0, 1], got {iou}")
    with progress(transient=True) as bar:
        scores = evaluate_mot(pred, gt, iou=iou, progress=progress_callback(bar, "cameras"))
    table = Table(title="tracking metrics (per camera)")
    for col in ("camera", "IDF1", "IDP", "IDR", "MOTA", "ID sw.", "frames", "true ids"):
        table.add_column(col, justify="left" if col == "camera" else "right")
    for s in scores:
        overall = s.name.upper() == "OVERALL"
        table.add_row(
            "overall" if overall else s.name,
            f"{100 * s.idf1:.2f}",
            f"{100 * s.idp:.2f}",
            f"{100 * s.idr:.2f}",
            f"{100 * s.mota:.2f}",
            str(s.id_switches),
            str(s.frames),
            str(s.gt_ids),
            style="bold" if overall else None,
        )
    console.print(table)
    if json_out is not None:
        atomic_write_json(json_out, {s.name: s.as_dict() for s in scores})
