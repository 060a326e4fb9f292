"""``reid doctor``: what this machine has, and which weight files would need a download."""

from __future__ import annotations

from typing import Annotated

import typer


def doctor(
    backbone: Annotated[str, typer.Option(help="Backbone whose ImageNet weights to look for.")] = "resnet50",
    det_weights: Annotated[str, typer.Option("--det-weights", help="Detector weights to look for.")] = "yolo11n.pt",
) -> None:
    """Show Python, torch, CUDA, faiss and Ultralytics versions, and whether default weights are present locally."""
    from rich.table import Table

    from reid.doctor import collect

    from .common import console

    table = Table(title="reid doctor", show_header=True, header_style="bold")
    table.add_column("item")
    table.add_column("value")
    table.add_column("status")
    for row in collect(backbone=backbone, det_weights=det_weights):
        style = {"ok": "green", "warn": "yellow", "missing": "red"}.get(row.status, "")
        table.add_row(row.item, row.value, f"[{style}]{row.status}[/]" if style else row.status)
    console.print(table)
