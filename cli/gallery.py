"""``reid gallery ...``: inspect, search, export and calibrate the persistent cross-camera gallery."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOpt, SetOpt

app = typer.Typer(
    help="The persistent gallery (faiss index + SQLite) that links identities across cameras and runs.",
    no_args_is_help=True,
)

GalleryArg = Annotated[Path, typer.Argument(help="Gallery folder (gallery.sqlite + index.faiss).")]


@app.command("info")
def info(gallery: GalleryArg) -> None:
    """Show a gallery's size, cameras, embedding network and index kind."""
    from rich.table import Table

    from reid.gallery.gallery import Gallery

    from .common import console

    with Gallery.open(gallery, create=False, read_only=True) as g:
        data = g.info()
    table = Table(title=f"gallery {gallery}", show_header=False)
    table.add_column("item")
    table.add_column("value")
    for key in ("format", "embedder", "weights", "dim", "runs", "cameras", "identities", "tracklets", "index",
                "index_vectors", "journal_mode"):
        table.add_row(key, str(data[key]))
    table.add_row("camera names", ", ".join(data["cameras_list"]) or "-")
    console.print(table)


@app.command("search")
def search(
    image: Annotated[Path, typer.Argument(help="Image of one vehicle (a crop) to look for.")],
    gallery: Annotated[Path, typer.Option("--gallery", "-g", help="Gallery folder.")] = Path("runs/track/gallery"),
    k: Annotated[int, typer.Option("-k", "--top", help="Number of matches to show.", min=1)] = 10,
    reid_weights: Annotated[
        Path | None,
        typer.Option("--reid-weights", help="Checkpoint of the network that built the gallery (default: the one "
                                            "the gallery recorded)."),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N.")] = "auto",
) -> None:
    """Embed IMAGE and list the most similar tracklets with their global ids, cameras and times."""
    import cv2
    from rich.table import Table

    from reid.errors import GalleryError, InputError
    from reid.gallery.gallery import Gallery
    from reid.io import require_file
    from reid.models.inference import CropEmbedder

    from .common import console

    require_file(image, "image", "IMAGE")
    crop = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if crop is None:
        raise InputError(f"{image} is not a readable image")
    with Gallery.open(gallery, create=False, read_only=True) as g:
        meta = g.store.meta()
        weights = str(reid_weights) if reid_weights is not None else meta.get("weights")
        if weights:
            embedder = CropEmbedder.from_checkpoint(weights, device=device, flag="--reid-weights")
        elif str(meta.get("embedder", "")).startswith("imagenet:"):
            embedder = CropEmbedder.from_imagenet(meta["embedder"].split(":", 1)[1], device=device)
        else:
            raise GalleryError(f"gallery {gallery} does not record which checkpoint built it",
                               "pass --reid-weights")
        if meta.get("embedder") not in (None, embedder.identity):
            raise GalleryError(f"gallery {gallery} was built with network {meta['embedder']}, "
                               f"{weights or 'this network'} is {embedder.identity}",
                               "pass the --reid-weights the gallery was built with")
        hits = g.search(embedder.embed([crop]), k=k)[0]
    table = Table(title=f"{len(hits)} nearest tracklets to {image.name}")
    for col in ("rank", "similarity", "global id", "camera", "time", "track", "crop"):
        table.add_column(col, justify="right" if col in ("rank", "similarity", "global id", "track") else "left")
    for rank, hit in enumerate(hits, 1):
        t = hit.tracklet
        table.add_row(str(rank), f"{hit.similarity:.3f}", str(t.identity), t.camera,
                      f"{t.t_start:.1f}–{t.t_end:.1f} s", str(t.track_id), t.crops[0] if t.crops else "-")
    console.print(table)


@app.command("export")
def export(
    gallery: GalleryArg,
    csv: Annotated[Path, typer.Option("--csv", help="CSV file to write (one row per tracklet).")],
) -> None:
    """Write every stored tracklet with its global id, camera, times, frames and crops to a CSV file."""
    from reid.gallery.gallery import Gallery

    from .common import console

    with Gallery.open(gallery, create=False, read_only=True) as g:
        rows = g.export_csv(csv)
    console.print(f"wrote {rows} tracklets to {csv}")


@app.command("relink")
def relink(
    gallery: GalleryArg,
    since: Annotated[float | None, typer.Option("--since", help="Start of the range, seconds on the gallery's "
                                                                 "clock (default: the beginning).")] = None,
    until: Annotated[float | None, typer.Option("--until", help="End of the range (default: the end).")] = None,
    link_threshold: Annotated[float | None, typer.Option("--link-threshold", help="Cosine similarity needed to "
                                                                                    "link.")] = None,
    link_config: Annotated[Path | None, typer.Option("--link-config", help="Linking YAML of kind 'link'.")] = None,
    cameras_yaml: Annotated[Path | None, typer.Option("--cameras-yaml", help="Topology (kind: cameras) to "
                                                                               "respect.")] = None,
) -> None:
    """Link the tracklets of a time range again in batch mode (the best offline answer after a live run).

    Tracklets overlapping [--since, --until] are clustered again with constrained average linkage; identities
    with tracklets outside the range keep their ids (they are fixed seeds that new members may join).
    """
    from reid.gallery.config import LinkConfig
    from reid.gallery.relink import relink as relink_range

    from .common import console, load_command_config

    sets = [f"threshold={link_threshold}"] if link_threshold is not None else []
    cfg = load_command_config(LinkConfig, link_config, sets)
    topology = None
    if cameras_yaml is not None:
        from reid.cameras import load_cameras

        topology = load_cameras(cameras_yaml)
    result = relink_range(gallery, cfg, topology, since, until)
    console.print(f"relinked {result.tracklets} tracklets: {result.identities_before} identities before, "
                  f"{result.identities_after} after ({result.new_identities} new); {result.changed} tracklets "
                  f"changed identity")


@app.command("calibrate")
def calibrate(
    scene: Annotated[Path, typer.Option("--scene", help="Labelled scene: camera videos, gt/<camera>.txt with "
                                                        "global ids, cameras.yaml (e.g. from 'reid synth scene'), "
                                                        "or a CityFlow scenario (<camera>/gt/gt.txt).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder for tracking the scene (reused and resumed "
                                                          "if it is a run of this scene).")] = Path("runs/calibrate"),
    reid_weights: Annotated[str | None, typer.Option("--reid-weights", help="Checkpoint from 'reid train'.")] = None,
    detector: Annotated[str | None, typer.Option("--detector", help="yolo or motion.")] = None,
    metric: Annotated[str, typer.Option("--metric", help="idf1 (cross-camera IDF1) or pairwise_f1.")] = "idf1",
    min_threshold: Annotated[float, typer.Option("--min", help="Lowest threshold tried.")] = 0.2,
    max_threshold: Annotated[float, typer.Option("--max", help="Highest threshold tried.")] = 0.95,
    steps: Annotated[int, typer.Option("--steps", help="Number of thresholds tried.", min=2)] = 16,
    write: Annotated[Path | None, typer.Option("--write", help="Write a link YAML with the best threshold.")] = None,
    track_config: Annotated[Path | None, typer.Option("--track-config", help="YAML of kind 'track'.")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    workers: Annotated[int | None, typer.Option("--workers", help="Camera processes (default: min(cameras, "
                                                                  "cores); 1 on a GPU).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Track the scene again into --out.")] = False,
) -> None:
    """Pick the linking threshold that maximises cross-camera IDF1 (or pairwise F1) on a labelled scene.

    Tracks the scene's cameras into --out (or reuses that run), matches tracklets to the ground truth by IoU,
    links them at each threshold and scores the result. --config/--set are the link settings (kind 'link').
    """
    import numpy as np
    from rich.table import Table

    from reid.config import config_to_yaml
    from reid.errors import InputError
    from reid.gallery.calibrate import METRICS, calibrate_run
    from reid.gallery.config import LinkConfig
    from reid.io import atomic_write_text
    from reid.motfile import camera_files
    from reid.multicam.runner import run_camera_folder
    from reid.video.config import TrackConfig

    from .common import console, load_command_config, progress
    from .multicam import multicam_progress

    if metric not in METRICS:
        raise InputError(f"unknown --metric {metric!r}", f"valid: {', '.join(METRICS)}")
    if write is not None:  # before any tracking: never an input, never a file reid did not write
        from reid.output_files import is_link_yaml
        from reid.outputs import check_output_file

        check_output_file(write, True, [scene, config, track_config, reid_weights], is_link_yaml, "link YAML",
                          "--write")
    if not min_threshold < max_threshold:
        raise InputError(f"--min {min_threshold} must be below --max {max_threshold}")
    if not scene.is_dir():
        raise InputError(f"scene folder {scene} does not exist", "check --scene")
    gt_dir = scene / "gt" if (scene / "gt").is_dir() else scene  # gt/<camera>.txt, or CityFlow <camera>/gt/gt.txt
    camera_files(gt_dir, "ground-truth", "--scene")
    link_cfg = load_command_config(LinkConfig, config, sets)
    if workers is not None and workers > 0:
        from reid.procs import cap_workers

        workers, note = cap_workers(workers, what="--workers")
        if note:
            console.print(f"[yellow]note:[/] {note}")
    overrides = [f"{k}={v}" for k, v in {"reid_weights": reid_weights, "detector": detector}.items() if v]
    tcfg = load_command_config(TrackConfig, track_config, overrides)
    with progress() as bar:
        result = run_camera_folder(scene, out, tcfg, link_cfg, workers=workers, overwrite=overwrite,
                                   progress=multicam_progress(bar), report=False)
    from reid.cameras import load_cameras

    topology = load_cameras(scene / "cameras.yaml") if (scene / "cameras.yaml").is_file() else None
    thresholds = [round(float(x), 4) for x in np.linspace(min_threshold, max_threshold, steps)]
    cal = calibrate_run(result.out_dir, gt_dir, link_cfg, topology, thresholds, metric)
    table = Table(title=f"linking threshold on {scene} ({cal.labelled} labelled tracklets of "
                        f"{cal.true_identities} vehicles, {cal.unlabelled} false)")
    for col in ("threshold", "IDF1", "pairwise F1", "precision", "recall", "identities"):
        table.add_column(col, justify="right")
    for s in cal.scores:
        style = "bold green" if s is cal.best else ""
        table.add_row(f"{s.threshold:.3f}", f"{s.idf1:.3f}", f"{s.pairwise_f1:.3f}", f"{s.pairwise_precision:.3f}",
                      f"{s.pairwise_recall:.3f}", str(s.identities), style=style)
    console.print(table)
    console.print(f"best threshold for {metric}: [bold]{cal.best.threshold:.3f}[/] "
                  f"(IDF1 {cal.best.idf1:.3f}, pairwise F1 {cal.best.pairwise_f1:.3f})")
    if write is not None:
        best = link_cfg.model_copy(update={"threshold": cal.best.threshold})
        atomic_write_text(write, f"# calibrated on {scene} ({metric})\nkind: link\n" + config_to_yaml(best))
        console.print(f"wrote {write}")
