"""``reid eval mot``: single-camera tracking metrics of ``reid track`` output against MOTChallenge ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

# (column, attribute, kind): "pct" values are fractions shown in percent, "int" are counts
COLUMNS = (("HOTA", "hota", "pct"), ("DetA", "deta", "pct"), ("AssA", "assa", "pct"), ("LocA", "loca", "pct"),
           ("IDF1", "idf1", "pct"), ("IDP", "idp", "pct"), ("IDR", "idr", "pct"), ("MOTA", "mota", "pct"),
           ("IDsw", "id_switches", "int"))


def score_cells(scores: object) -> list[str]:
    """The cells of :data:`COLUMNS` for one row of scores (shared by ``reid eval mot`` and ``mtmc``)."""
    return [f"{100 * getattr(scores, attr):.1f}" if kind == "pct" else str(getattr(scores, attr))
            for _, attr, kind in COLUMNS]


def mot(
    pred: Annotated[
        Path,
        typer.Option(
            "--pred", help="Folder of predicted <camera>.txt MOT files (or a 'reid track' --out folder)."
        ),
    ],
    gt: Annotated[Path, typer.Option("--gt", help="Ground truth: a folder of <camera>.txt MOT files, a scene "
                                                  "folder with gt/, or a CityFlow scenario (<camera>/gt/gt.txt).")],
    iou: Annotated[float, typer.Option("--iou", help="Minimum box IoU of an IDF1 / MOTA match.")] = 0.5,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the metrics to this JSON file.")
    ] = None,
) -> None:
    """HOTA, DetA, AssA, LocA, IDF1, IDP, IDR, MOTA and ID switches per camera and overall (TrackEval).

    Files are matched by camera name; every ground-truth camera needs a prediction file. Ground-truth rows whose
    7th value is 0 are ignore rows (see docs/protocols.md).
    """
    from rich import box
    from rich.table import Table

    from reid.evaluation.mot import OVERALL, evaluate_mot
    from reid.io import atomic_write_json

    from .common import check_json_out, console, progress, progress_callback

    check_json_out(json_out, [pred, gt])
    with progress(transient=True) as bar:
        scores = evaluate_mot(pred, gt, iou=iou, progress=progress_callback(bar, "cameras"))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="tracking metrics (per camera, TrackEval)")
    for col in ("camera", *(c for c, _, _ in COLUMNS)):
        table.add_column(col, justify="left" if col == "camera" else "right", no_wrap=True)
    for s in scores:
        overall = s.name == OVERALL
        table.add_row("overall" if overall else s.name, *score_cells(s), style="bold" if overall else None)
    console.print(table)
    total = scores[-1]
    console.print(f"{len(scores) - 1} camera(s), {total.frames} frames, {total.gt_ids} true identities, "
                  f"{total.pred_ids} predicted tracks")
    if json_out is not None:
        atomic_write_json(json_out, {s.name: s.as_dict() for s in scores})
