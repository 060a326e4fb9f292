"""``reid demo``: the whole pipeline offline on synthetic data: scene, training, tracking, linking, report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOpt, SetOpt


def demo(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Demo folder (reused: a second run resumes and reuses the trained network)."
        ),
    ] = Path("reid-demo"),
    device: Annotated[
        str | None,
        typer.Option(
            "--device", help="auto (CUDA when present), cpu, cuda, cuda:N (default auto).", show_default=False
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option(
            "--epochs",
            help="Training epochs of the small demo network (default 10).",
            min=1,
            show_default=False,
        ),
    ] = None,
    vehicles: Annotated[
        int | None,
        typer.Option("--vehicles", help="Vehicles in the scene (default 12).", min=1, show_default=False),
    ] = None,
    seconds: Annotated[
        float | None,
        typer.Option(
            "--seconds", help="Length of each camera's video (default 30).", min=1.0, show_default=False
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of the synthetic world (default 0).", show_default=False),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Camera processes (default: min(cameras, cores); 1 on a GPU)."),
    ] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Run everything offline on a fresh machine and print the cross-camera IDF1.

    Generates a synthetic 3-camera scene, trains a small PNP network on other synthetic vehicles (reused when
    already trained in --out), calibrates the linking threshold on a second scene, tracks the scene with the
    motion detector, links identities across cameras and writes report.html.
    """
    from rich.table import Table

    from reid.demo import DemoSettings, run_demo

    from .common import console, load_command_config, progress
    from .multicam import multicam_progress

    flags = {"epochs": epochs, "vehicles": vehicles, "seconds": seconds, "seed": seed, "device": device}
    # Flags win over the YAML file, and --set wins over both.
    given = [f"{key}={value}" for key, value in flags.items() if value is not None]
    settings = load_command_config(DemoSettings, config, given + list(sets or []))
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
    table.add_row(
        "linking threshold",
        f"{result.threshold:.3f} (calibrated on a separate scene, IDF1 {100 * result.calibration_idf1:.1f})",
    )
    table.add_row(
        "cross-camera IDF1",
        f"[bold]{100 * result.idf1:.1f}[/] (IDP {100 * result.idp:.1f}, IDR {100 * result.idr:.1f})",
    )
    table.add_row("linking by chance", f"{100 * result.chance_idf1:.1f}")
    table.add_row("identities", f"{result.identities} found, {result.true_identities} true")
    table.add_row("report", str(result.report))
    table.add_row("MOT files", str(result.run_dir / "mot"))
    console.print(table)
