"""Rendering shared by the commands that run a folder of cameras (``reid track DIR``, ``reid gallery
calibrate``, ``reid demo``): one overall progress bar plus one per camera, and the run's summary table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def multicam_progress(bar: Any, prefix: str = "") -> Callable[..., None]:
    """A runner progress callback: per-camera frame bars, an overall bar, and bars for linking and writing."""
    tasks: dict[str, Any] = {}
    frames: dict[str, tuple[int, int | None]] = {}

    def task(key: str, description: str) -> Any:
        if key not in tasks:
            tasks[key] = bar.add_task(prefix + description, total=None, info="")
        return tasks[key]

    def callback(done: int, total: int | None = None, camera: str | None = None, stage: str = "", **info: Any) -> None:
        text = "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
        if stage == "track" and camera is not None:
            overall = task("__all__", "all cameras")
            bar.update(task(camera, f"  {camera}"), completed=done, total=total, info=text)
            frames[camera] = (done, total)
            known = [t for _, t in frames.values()]
            grand = sum(t for t in known if t) if all(known) else None
            bar.update(overall, completed=sum(d for d, _ in frames.values()), total=grand,
                       info=f"{len(frames)} camera(s) started")
            return
        label = {"link": "linking across cameras", "outputs": "writing outputs"}.get(stage, stage or "working")
        bar.update(task(stage or "work", label), completed=done, total=total, info=text)

    return callback


def render_run(console: Any, result: Any) -> None:
    """The summary of a camera-folder run: per-camera table, skipped entries, identities and where things are."""
    from rich.table import Table

    table = Table(title=f"{len(result.cameras)} cameras → {result.identities} global identities "
                        f"({result.cross_camera} seen by 2+ cameras)")
    for col in ("camera", "frames", "fps", "tracklets", "status"):
        table.add_column(col, justify="right" if col in ("frames", "fps", "tracklets") else "left")
    for cam in result.cameras:
        status = "incomplete" if cam.incomplete else ("resumed" if cam.resumed else "done")
        table.add_row(cam.name, str(cam.frames), f"{cam.fps:.3g}", str(cam.tracklets), status)
    console.print(table)
    for name, why in result.skipped:
        console.print(f"[yellow]skipped[/] {name}: {why}")
    for warning in result.warnings:
        console.print(f"[bold yellow]warning:[/] {warning}")
    if result.known_before:
        console.print(f"{result.known_before} identities were already in the gallery and kept their ids")
    from .linking import render_linking

    render_linking(console, result.linking, result.learned_cameras)
    console.print(f"MOT files with global ids: {result.mot_dir}")
    console.print(f"identities: {result.identities_path}")
    if result.report_path is not None:
        console.print(f"report: {result.report_path}")
    console.print(f"gallery: {result.gallery}")


def track_camera_folder(source: Any, out: Any, track_cfg: Any, overwrite: bool, gallery: Any,
                        link_threshold: float | None, link_config: Any, workers: int | None, cameras_yaml: Any,
                        aic_export: Any = None) -> None:
    """``reid track CAMERAS_DIR``: run every camera, link them, and print the run's summary."""
    from reid.gallery.config import LinkConfig
    from reid.multicam.runner import run_camera_folder
    from reid.procs import cap_workers

    from .common import console, load_command_config, progress

    if workers is not None and workers > 0:
        workers, note = cap_workers(workers, what="--workers")
        if note:
            console.print(f"[yellow]note:[/] {note}")
    from reid.outputs import check_not_overlapping

    check_not_overlapping(out, [link_config, cameras_yaml, aic_export])  # the run's other input files
    sets = [f"threshold={link_threshold}"] if link_threshold is not None else []
    link_cfg = load_command_config(LinkConfig, link_config, sets)
    if aic_export is not None:
        from .aic import check_folder_cameras

        check_folder_cameras(aic_export, source, cameras_yaml, [gallery, track_cfg.reid_weights, track_cfg.det_weights,
                                                                link_config])
    with progress() as bar:
        result = run_camera_folder(source, out, track_cfg, link_cfg, gallery_dir=gallery, cameras_yaml=cameras_yaml,
                                   workers=workers, overwrite=overwrite, progress=multicam_progress(bar))
    render_run(console, result)
    if aic_export is not None:
        from .aic import export_folder_run

        export_folder_run(aic_export, result)
