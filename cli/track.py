"""``reid track SOURCE``: detect, track and embed the vehicles of one camera."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOpt, SetOpt


def track(
    source: Annotated[
        str,
        typer.Argument(
            help="A video file, a folder of frames, an RTSP/HTTP URL, or a webcam index (0, 1, ...)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (refused if not empty, see --overwrite).")
    ] = Path("runs/track"),
    detector: Annotated[
        str | None,
        typer.Option("--detector", help="yolo (default) or motion (background subtraction, fixed cameras)."),
    ] = None,
    det_weights: Annotated[
        str | None, typer.Option("--det-weights", help="Ultralytics detector weights (.pt) or model .yaml.")
    ] = None,
    conf: Annotated[float | None, typer.Option("--conf", help="Detector confidence threshold.")] = None,
    iou: Annotated[float | None, typer.Option("--iou", help="Detector NMS IoU threshold.")] = None,
    imgsz: Annotated[int | None, typer.Option("--imgsz", help="Detector input size in pixels.")] = None,
    classes: Annotated[
        str | None,
        typer.Option(
            "--classes", help="Comma-separated class names to keep (default: car,motorcycle,bus,truck)."
        ),
    ] = None,
    tracker: Annotated[
        str | None, typer.Option("--tracker", help="bytetrack (default), botsort, or a tracker YAML file.")
    ] = None,
    reid_weights: Annotated[
        str | None,
        typer.Option("--reid-weights", help="Checkpoint from 'reid train' (default: the ImageNet backbone)."),
    ] = None,
    no_reid: Annotated[bool, typer.Option("--no-reid", help="Track only: do not embed tracklets.")] = False,
    vid_stride: Annotated[int | None, typer.Option("--vid-stride", help="Process every n-th frame.")] = None,
    save_crops: Annotated[bool, typer.Option("--save-crops", help="Save each track's kept crops.")] = False,
    save_video: Annotated[bool, typer.Option("--save-video", help="Write an annotated video.")] = False,
    device: Annotated[
        str | None, typer.Option("--device", help="auto (CUDA when present), cpu, cuda, cuda:N.")
    ] = None,
    camera: Annotated[
        str | None, typer.Option("--camera", help="Camera name in the outputs (default: the file stem).")
    ] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Write into a non-empty --out folder.")
    ] = False,
    gallery: Annotated[
        Path | None,
        typer.Option("--gallery", help="Folder of cameras: gallery to link against and extend (default: <out>/gallery)."),
    ] = None,
    link_threshold: Annotated[
        float | None,
        typer.Option("--link-threshold", help="Folder of cameras: cosine similarity needed to link (see 'reid gallery calibrate')."),
    ] = None,
    link_config: Annotated[
        Path | None, typer.Option("--link-config", help="Folder of cameras: linking YAML of kind 'link' (configs/link.yaml).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Folder of cameras: camera processes (default: min(cameras, cores); 1 on a GPU)."),
    ] = None,
    cameras_yaml: Annotated[
        Path | None,
        typer.Option("--cameras-yaml", help="Folder of cameras: fps, start times and topology (default: SOURCE/cameras.yaml)."),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option("--engine", help="Folder of cameras: local (processes on this machine, default) or ray (a Ray "
                                      "cluster; pip install \"reid[ray]\")."),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option("--ray-address", help="Folder of cameras, --engine ray: the cluster (default: RAY_ADDRESS, "
                                           "else a local Ray started for the run)."),
    ] = None,
    aic_export: Annotated[
        Path | None,
        typer.Option("--aic-export", help="Also write the tracks as an AI City MTMC submission file "
                                          "(camera_id obj_id frame_id xmin ymin width height xworld yworld)."),
    ] = None,
) -> None:
    """Track the vehicles of one camera and summarise each track by one re-ID vector.

    Writes mot/<camera>.txt (MOTChallenge), tracklets.jsonl, status.json and, when asked, crops/<camera>/<id>/
    and video/<camera>.mp4 under --out. A SOURCE folder holding camera videos (or one subfolder of frames per
    camera) runs every camera and links identities across them (the options marked "Folder of cameras").
    Flags override --config (a YAML of kind 'track', see configs/track.yaml) and --set.
    """
    from reid.errors import ConfigError
    from reid.io import prepare_output_dir
    from reid.video.config import TrackConfig
    from reid.video.sources import is_camera_folder, open_source

    from .common import console, err_console, load_command_config, progress, progress_callback

    flags = {
        "detector": detector,
        "det_weights": det_weights,
        "conf": conf,
        "iou": iou,
        "imgsz": imgsz,
        "classes": [c.strip() for c in classes.split(",") if c.strip()] if classes is not None else None,
        "tracker": tracker,
        "reid_weights": reid_weights,
        "vid_stride": vid_stride,
        "device": device,
        "engine.name": engine,
        "engine.address": ray_address,
    }
    overrides = list(sets or []) + [f"{k}={_yaml(v)}" for k, v in flags.items() if v is not None]
    if no_reid:
        overrides.append("embed=false")
    if save_crops:
        overrides.append("save_crops=true")
    if save_video:
        overrides.append("save_video=true")
    cfg = load_command_config(TrackConfig, config, overrides)

    source_path = Path(source).expanduser()
    from reid.multicam.cityflow import layout_camera

    layout = layout_camera(source_path)
    if layout is not None:  # --- one CityFlow camera folder (c006/ with vdo.avi, roi.jpg): its video and mask ---
        source, camera = str(layout.video), camera or layout.name
        if layout.roi is not None and cfg.roi is None:
            cfg = cfg.model_copy(update={"roi": str(layout.roi)})
    elif source_path.is_dir() and is_camera_folder(source_path):
        # --- folder of cameras: the cross-camera stage (reid.multicam) handles this mode ---
        from reid.outputs import check_not_overlapping

        from .multicam import track_camera_folder

        check_not_overlapping(out, [config])

        track_camera_folder(source_path, out, cfg, overwrite, gallery, link_threshold, link_config, workers,
                            cameras_yaml, aic_export)
        return

    folder_only = {"--gallery": gallery, "--link-threshold": link_threshold, "--link-config": link_config,
                   "--workers": workers, "--cameras-yaml": cameras_yaml, "--engine": engine,
                   "--ray-address": ray_address}
    given = [flag for flag, value in folder_only.items() if value is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} only to a folder of cameras, "
                          f"and {source} is one camera", "drop the option, or pass a folder of camera videos")
    from reid.io import atomic_write_text
    from reid.outputs import check_not_overlapping, safe_component

    src = open_source(source, cfg.vid_stride, cfg.fps, cfg.reconnects)
    name = safe_component(camera) if camera is not None else src.camera
    if aic_export is not None:  # refused before tracking, not after: a folder, or a camera without a number
        from .aic import check_single_camera

        check_single_camera(aic_export, name, [source_path if source_path.exists() else None, cfg.det_weights,
                                               cfg.reid_weights, config])
    from reid.video.pipeline import load_embedder, track_video

    if cfg.engine.name != "local":
        raise ConfigError(f"engine {cfg.engine.name} applies only to a folder of cameras, and {source} is one "
                          "camera", "drop engine.name (or --engine) for one video")
    inputs = [source_path if source_path.exists() else None, cfg.det_weights, cfg.reid_weights, config, cfg.roi]
    check_not_overlapping(out, inputs)  # before the network loads, and before anything is written
    embedder = load_embedder(cfg)
    from reid.video.detectors import build_detector

    detector = build_detector(cfg)  # refused weights or class names leave no output behind
    from reid.video.config import load_tracker_config

    load_tracker_config(cfg.tracker)  # a broken tracker YAML too
    out_dir = prepare_output_dir(out, overwrite, inputs=inputs,
                                 owned=("config.yaml", "status.json", "tracklets.jsonl", "mot", "video", "crops"))
    atomic_write_text(out_dir / "config.yaml", _dump(cfg))
    with progress() as bar:
        callback = progress_callback(bar, f"tracking {name}", src.expected_outputs)
        result = track_video(src, name, cfg, embedder, out_dir, progress=callback, detector=detector)

    _render(console, result, out_dir, cfg)
    if aic_export is not None:  # --- AI City submission file (reid.multicam.aic) ---
        from .aic import export_submission

        export_submission(aic_export, {result.camera: result.mot_path},
                          {result.camera: layout.calibration if layout is not None else None})
    if result.incomplete:
        err_console.print(
            f"[bold yellow]warning:[/] {result.warning} (status.json marks this camera incomplete)"
        )
    elif result.warning:
        err_console.print(f"[bold yellow]warning:[/] {result.warning}")


def _yaml(value: object) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value


def _dump(cfg: object) -> str:
    from reid.config import config_to_yaml

    return "kind: track\n" + config_to_yaml(cfg)  # type: ignore[arg-type]


def _render(console, result, out_dir: Path, cfg) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title=f"camera {result.camera}: {len(result.tracklets)} tracklets", show_lines=False)
    for col in ("id", "class", "first frame", "last frame", "seconds", "boxes", "vector"):
        table.add_column(col, justify="right" if col not in ("class", "vector") else "left")
    for t in result.tracklets[:50]:
        table.add_row(
            str(t.track_id),
            result.class_names.get(t.cls, str(t.cls)),
            str(t.first_frame + 1),
            str(t.last_frame + 1),
            f"{t.last_time - t.first_time:.1f}",
            str(t.num_boxes),
            "yes" if t.feature is not None else "-",
        )
    if len(result.tracklets) > 50:
        table.add_row("...", f"{len(result.tracklets) - 50} more", "", "", "", "", "")
    console.print(table)
    console.print(
        f"{result.frames} frames at {result.processing_fps:.1f} fps (re-ID {result.reid_seconds:.1f} s of "
        f"{result.seconds:.1f} s); {len(result.rejoined)} pieces rejoined; "
        f"MOT: {result.mot_path}" + (f"; video: {result.video_path}" if result.video_path else "")
    )
    console.print(f"outputs in {out_dir} ({'incomplete' if result.incomplete else 'complete'})")
