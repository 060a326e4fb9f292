"""``reid synth vehicleid|veri|scene``: write synthetic datasets and multi-camera videos with ground truth."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import ConfigOpt, SetOpt

app = typer.Typer(
    help=(
        "Generate synthetic data, deterministic for a seed: re-ID datasets in the VehicleID and VeRi-776 layouts, "
        "and multi-camera traffic videos with MOTChallenge ground truth and a cameras.yaml."
    ),
    no_args_is_help=True,
)

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder (created; must be empty unless --overwrite).")]
IdsOpt = Annotated[
    int | None, typer.Option("--ids", help="Number of identities (datasets: train + test; scene: vehicles).", show_default=False)
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed; the same seed gives the same files.", show_default=False)]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace the generated files in a non-empty --out.")]


def _split(total: int, train_share: float) -> tuple[int, int]:
    """Split ``--ids`` into train and test identities (at least one test identity)."""
    from reid.errors import InputError

    if total < 2:
        raise InputError(f"--ids must be at least 2 (one train and one test identity), got {total}", "fix --ids")
    test = max(1, total - int(round(total * train_share)))
    return total - test, test


@contextmanager
def _lazy_progress(description: str) -> Iterator[Callable[..., None]]:
    """A progress callback whose bar appears at the first report, so a refused flag or folder prints only its error."""
    from .common import progress, progress_callback

    with ExitStack() as stack:
        holder: dict[str, Callable[..., None]] = {}

        def callback(done: int, total: int | None = None, **info: Any) -> None:
            if "cb" not in holder:
                holder["cb"] = progress_callback(stack.enter_context(progress()), description)
            holder["cb"](done, total, **info)

        yield callback


def _summary(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    from .common import console

    table = Table(title=title, show_header=False)
    table.add_column("item", style="bold")
    table.add_column("value")
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@app.command()
def vehicleid(
    out: OutOpt,
    ids: IdsOpt = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write a VehicleID-layout dataset: image/, train_test_split/ (train list and nested 800/1600/2400 test lists)."""
    from reid.synth.config import SynthConfig
    from reid.synth.vehicleid import write_vehicleid

    from .common import load_command_config

    cfg = load_command_config(SynthConfig, config, sets)
    sec = cfg.vehicleid
    n_train, n_test = _split(ids, 0.6) if ids is not None else (sec.num_train_ids, sec.num_test_ids)
    with _lazy_progress("vehicleid images") as report:
        root = write_vehicleid(
            out, num_train_ids=n_train, num_test_ids=n_test, images_per_id=sec.images_per_id, size=sec.size,
            seed=cfg.seed if seed is None else seed, overwrite=overwrite,
            progress=report, near_duplicate_rate=sec.near_duplicate_rate,
        )
    images = sum(1 for _ in (root / "image").glob("*.jpg"))
    _summary("VehicleID (synthetic)", [("root", str(root)), ("train ids", str(n_train)), ("test ids", str(n_test)),
                                       ("images", str(images))])


@app.command()
def veri(
    out: OutOpt,
    ids: IdsOpt = None,
    cameras: Annotated[int | None, typer.Option("--cameras", help="Number of cameras (at least 2).", show_default=False)] = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write a VeRi-776-layout dataset: image_train/, image_test/, image_query/ and name_*.txt lists."""
    from reid.synth.config import SynthConfig
    from reid.synth.veri import write_veri

    from .common import load_command_config

    cfg = load_command_config(SynthConfig, config, sets)
    sec = cfg.veri
    n_train, n_test = _split(ids, 2 / 3) if ids is not None else (sec.num_train_ids, sec.num_test_ids)
    n_cams = sec.cameras if cameras is None else cameras
    with _lazy_progress("veri images") as report:
        root = write_veri(
            out, num_train_ids=n_train, num_test_ids=n_test, cameras=n_cams, size=sec.size,
            seed=cfg.seed if seed is None else seed, overwrite=overwrite,
            progress=report, near_duplicate_rate=sec.near_duplicate_rate,
        )
    counts = {s: len((root / f"name_{s}.txt").read_text().split()) for s in ("train", "test", "query")}
    _summary("VeRi-776 (synthetic)", [("root", str(root)), ("train ids", str(n_train)), ("test ids", str(n_test)),
                                      ("cameras", str(n_cams))] + [(f"{s} images", str(n)) for s, n in counts.items()])


@app.command()
def scene(
    out: OutOpt,
    cameras: Annotated[int | None, typer.Option("--cameras", help="Number of cameras along the road.", show_default=False)] = None,
    ids: IdsOpt = None,
    seconds: Annotated[float | None, typer.Option("--seconds", help="Length of every camera's video.", show_default=False)] = None,
    seed: SeedOpt = None,
    layout: Annotated[str | None, typer.Option("--layout", help="mot (cam1.mp4, gt/cam1.txt, cameras.yaml) or "
                                               "cityflow (the AI City layout S01/c001/vdo.avi with roi.jpg, "
                                               "gt/gt.txt, and cam_timestamp/S01.txt).", show_default=False)] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write a multi-camera scene: one video per camera, MOTChallenge ground truth with global ids, cameras.yaml;
    in the MOT layout (default) or the CityFlow / AI City layout with a region-of-interest mask per camera."""
    from reid.synth.config import SynthConfig
    from reid.synth.scene import write_scene

    from .common import load_command_config

    cfg = load_command_config(SynthConfig, config, sets)
    sec = cfg.scene
    with _lazy_progress("frames") as report:
        info = write_scene(
            out, cameras=sec.cameras if cameras is None else cameras, vehicles=sec.vehicles if ids is None else ids,
            seconds=sec.seconds if seconds is None else seconds, fps=sec.fps, size=sec.size,
            seed=cfg.seed if seed is None else seed, overwrite=overwrite, progress=report,
            layout=sec.layout if layout is None else layout,
        )
    multi = sum(1 for v in info.visits.values() if len(set(v)) > 1)
    _summary("Synthetic scene", [
        ("root", str(info.out)), ("layout", info.layout), ("cameras", ", ".join(info.cameras)),
        ("frames per camera", str(info.frames[info.cameras[0]])), ("fps", f"{info.fps:g}"),
        ("vehicles seen", str(info.num_ids)), ("seen by 2+ cameras", str(multi)),
    ])
    from .common import console

    console.print(f"track it with: reid track {info.source or info.out}", soft_wrap=True)
