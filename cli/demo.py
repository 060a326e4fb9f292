"""``reid demo``: the whole pipeline offline on synthetic data: scene, training, tracking, linking, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Demo folder (reused: a second run resumes and reuses "
                                                          "the trained network).")] = Path("reid-demo"),
    device: Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu, cuda, cuda:N.")] = "auto",
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs of the small demo network.", min=1)] = 10,
    vehicles: Annotated[int, typer.Option("--vehicles", help="Vehicles in the scene.", min=1)] = 12,
    seconds: Annotated[float, typer.Option("--seconds", help="Length of each camera's video.", min=1.0)] = 30.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic world.")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", help="Camera processes (default: min(cameras, "
                                                                  "cores); 1 on a GPU).")] = None,
) -> None:
    """Run everything offline on a fresh machine and print the cross-camera IDF1.

    Generates a synthetic 3-camera scene, trains a small PNP network on other synthetic vehicles (reused when
    already trained in --out), calibrates the linking threshold on a second scene, tracks the scene with the
    motion detector, links identities across cameras and writes report.html.
    """
    from rich.table import Table

    from reid.demo import DemoSettings, run_demo

    from .common import console, progress
    from .multicam import multicam_progress

    settings = DemoSettings(epochs=epochs, vehicles=vehicles, seconds=seconds, seed=seed, device=device)
    with progress() as bar:
        run_bars = {}
        train_task = None

        def callback(done, total=None, stage="", camera=None, **info):  # type: ignore[no-untyped-def]
            nonlocal train_task
            text = "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
            if stage == "train":
                if train_task is None:
                    train_task = bar.add_task("training the demo network", total=total, info="")
                bar.update(train_task, completed=done, total=total, info=text)
                return
            if stage == "scene":
                key = "scene"
                if key not in run_bars:
                    run_bars[key] = bar.add_task("writing a synthetic scene", total=total, info="")
                bar.update(run_bars[key], completed=done, total=total)
                return
            phase, _, inner = stage.partition(":")
            if phase not in run_bars:
                run_bars[phase] = multicam_progress(bar, prefix=f"{phase}: ")
            run_bars[phase](done, total, camera=camera, stage=inner, **info)

        result = run_demo(out, settings, progress=callback, workers=workers)
    table = Table(title="reid demo: cross-camera identities on a synthetic 3-camera scene", show_header=False)
    table.add_column("item")
    table.add_column("value")
    table.add_row("network", f"{result.checkpoint} ({'trained now' if result.trained else 'reused'})")
    table.add_row("linking threshold", f"{result.threshold:.3f} (calibrated on a separate scene, IDF1 "
                                       f"{100 * result.calibration_idf1:.1f})")
    table.add_row("cross-camera IDF1", f"[bold]{100 * result.idf1:.1f}[/] (IDP {100 * result.idp:.1f}, "
                                       f"IDR {100 * result.idr:.1f})")
    table.add_row("linking by chance", f"{100 * result.chance_idf1:.1f}")
    table.add_row("identities", f"{result.identities} found, {result.true_identities} true")
    table.add_row("report", str(result.report))
    table.add_row("MOT files", str(result.run_dir / "mot"))
    console.print(table)
