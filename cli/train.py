"""``reid train``: train the embedding network with the PNP loss (or a baseline), on CPU, one GPU or many."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOpt, SetOpt


def train(
    config: ConfigOpt = None,
    sets: SetOpt = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Run folder: best.pt, last.pt, metrics.jsonl, config.yaml.")
    ] = Path("runs/train"),
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset root (same as --set data.root=PATH).")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Number of epochs (config key: epochs).")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="auto (CUDA when present), cpu, cuda, cuda:N.")
    ] = None,
    devices: Annotated[
        int,
        typer.Option(
            "--devices",
            help="Processes/GPUs on this machine. Above 1, launches torchrun with DDP (see docs/training.md).",
        ),
    ] = 1,
    skip_missing: Annotated[
        bool, typer.Option("--skip-missing", help="Skip listed images that are missing on disk (counted).")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the run in --out from last.pt, exactly where it stopped."),
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start over in a non-empty --out.")] = False,
) -> None:
    """Train the re-ID embedding network on P×K batches with a ranking loss (PNP-Dq by default).

    Reads VehicleID, VeRi-776, a folder of identity folders or a CSV (data.kind), holds out identities for
    validation (Recall@1/@5 and mAP every val_every epochs), and writes best.pt / last.pt atomically.
    Example: reid train --config configs/vehicleid_pnp.yaml --data /data/VehicleID --out runs/pnp
    """
    import json

    from .common import console, load_command_config, progress, progress_callback

    overrides = list(sets or [])
    if data is not None:
        overrides.append(f"data.root={json.dumps(data)}")
    if epochs is not None:
        overrides.append(f"epochs={epochs}")
    if device is not None:
        overrides.append(f"device={device}")
    if skip_missing:
        overrides.append("data.skip_missing=true")

    from reid.train.config import TrainConfig
    from reid.train.run import load_train_config

    if config is None and resume:
        cfg = load_train_config(None, overrides, out, resume=True)
    else:
        cfg = load_command_config(TrainConfig, config, overrides)

    if devices > 1:
        _launch_ddp(cfg, devices, out, resume, overwrite)
        _record_trained(out, cfg)
        return

    from rich.markup import escape

    from reid.train.loop import train as run_training

    def show_epoch(row: dict) -> None:
        metrics = "  ".join(f"{k}={row[k]:.2f}" for k in ("rank1", "rank5", "mAP") if k in row)
        skipped = f"  [yellow]skipped so far: {row['nonfinite_steps']}[/]" if row.get("nonfinite_steps") else ""
        console.print(
            f"epoch {row['epoch']:>3}  loss={row['loss']:.4f}  lr={row['lr']:.3g}  {row['it_s']:.2f} it/s  "
            f"{metrics}{skipped}",
            highlight=False,
        )

    def show_warning(line: str) -> None:
        console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)

    with progress(transient=True) as bar:
        callback = progress_callback(bar, "training")
        result = run_training(
            cfg,
            out,
            resume=resume,
            overwrite=overwrite,
            progress=callback,
            on_epoch=show_epoch,
            on_warning=show_warning,
        )

    best = result.best or {}
    summary = "  ".join(f"{k}={best[k]:.2f}" for k in ("rank1", "rank5", "mAP") if k in best)
    console.print(
        f"trained on {result.num_train_images} images of {result.num_train_ids} identities"
        f"{f', validated on {result.num_val_images} images' if result.num_val_images else ''}; "
        f"best epoch {best.get('epoch', '-')} {summary}",
        highlight=False,
    )
    if result.nonfinite_steps:
        console.print(
            f"[yellow]{result.nonfinite_steps} steps were skipped for a non-finite loss or gradient "
            "(no update; counted as nonfinite_steps in metrics.jsonl)[/]"
        )
    console.print(f"checkpoints: {result.best_path} (best), {result.last_path} (last)")
    _record_trained(out, cfg)


def _record_trained(out: Path, cfg) -> None:  # type: ignore[no-untyped-def]
    """Add the run's best.pt to the weights list of this machine (``reid weights list``); never fails the run."""
    from reid.errors import ReidError
    from reid.models.catalog import record_checkpoint

    from .common import console

    best = out / "best.pt"
    if not best.is_file():
        return
    start = cfg.model.pretrained if cfg.model.pretrained != "none" else "random weights"
    origin = f"reid train on {cfg.data.kind} {cfg.data.root or ''}".rstrip() + f", from {start}"
    try:
        record_checkpoint(best, "trained", origin)
    except ReidError as exc:
        console.print(f"[yellow]{best} not added to the weights list: {exc}[/]", highlight=False)


def _launch_ddp(cfg, devices: int, out: Path, resume: bool, overwrite: bool) -> None:  # type: ignore[no-untyped-def]
    """Write the resolved config beside the run and hand over to torchrun (one process per device)."""
    import subprocess
    import tempfile

    from reid.config import config_to_yaml
    from reid.errors import TrainingError
    from reid.train.run import torchrun_command

    from .common import console

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="reid-train-", delete=False) as handle:
        handle.write("kind: train\n" + config_to_yaml(cfg))
        config_file = handle.name
    cmd = torchrun_command(devices, config_file, out, resume, overwrite)
    console.print(f"launching {devices} processes: {' '.join(cmd)}", highlight=False)
    try:
        code = subprocess.call(cmd)
    finally:
        Path(config_file).unlink(missing_ok=True)
    if code != 0:
        raise TrainingError(f"distributed training exited with code {code}", "see the messages above")
