"""``reid live SOURCES.yaml``: many camera streams at once, global identities as vehicles leave a view."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOpt, SetOpt


def live(
    sources: Annotated[Path, typer.Argument(
        help="SOURCES.yaml: the cameras.yaml schema (kind: cameras) with a source: per camera (rtsp:// or "
             "http(s):// URL, webcam index, or a file read at its own frame rate).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; the same command again continues it.")]
    = Path("runs/live"),
    gallery: Annotated[Path | None, typer.Option(
        "--gallery", help="Gallery to link against and extend (default: <out>/gallery).")] = None,
    detector: Annotated[str | None, typer.Option("--detector", help="yolo (default) or motion.")] = None,
    det_weights: Annotated[str | None, typer.Option("--det-weights", help="Ultralytics weights (.pt) or .yaml.")]
    = None,
    conf: Annotated[float | None, typer.Option("--conf", help="Detector confidence threshold.")] = None,
    classes: Annotated[str | None, typer.Option("--classes", help="Comma-separated class names to keep.")] = None,
    tracker: Annotated[str | None, typer.Option("--tracker", help="bytetrack, botsort, or a tracker YAML.")] = None,
    reid_weights: Annotated[str | None, typer.Option(
        "--reid-weights", help="Checkpoint from 'reid train' or 'reid weights import'.")] = None,
    device: Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda, cuda:N.")] = None,
    link_threshold: Annotated[float | None, typer.Option(
        "--link-threshold", help="Cosine similarity needed to join an identity.")] = None,
    emit_every: Annotated[float | None, typer.Option(
        "--emit-every", help="Seconds between emissions of a vehicle that stays in view.")] = None,
    engine: Annotated[str | None, typer.Option(
        "--engine", help="local (processes on this machine, default) or ray (pip install \"reid[ray]\").")] = None,
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="--engine ray: the cluster (default: RAY_ADDRESS, else a local Ray).")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start --out again instead of continuing it.")]
    = False,
) -> None:
    """Track many live cameras at once and give each vehicle a global id as soon as it leaves a view.

    Each camera runs in its own worker and reads in real time (a camera that falls behind skips to the newest
    frame and counts the frames it skipped). One linker gives every tracklet a global id at once, stores it in
    the gallery and appends it to events.jsonl and mot/<camera>.txt. status.json shows each camera;
    report.html is written at the end and on SIGUSR1. The run lasts until Ctrl-C or SIGTERM, or until every
    finite source has ended. --config takes a YAML of kind 'live' (configs/live.yaml) or 'track'; --set keys
    are those of configs/live.yaml (--set track.motion.min_area=0.001, --set emit_every=5).

    Example:  reid live sources.yaml --out runs/live --detector motion --reid-weights best.pt
    """
    import threading

    from reid.live.run import LiveHooks, LiveOptions, run_live

    from .common import console, err_console, progress

    flags = {"track.detector": detector, "track.det_weights": det_weights, "track.conf": conf,
             "track.tracker": tracker, "track.reid_weights": reid_weights, "track.device": device,
             "link.threshold": link_threshold, "emit_every": emit_every, "engine.name": engine,
             "engine.address": ray_address}
    overrides = list(sets or []) + [f"{k}={v}" for k, v in flags.items() if v is not None]
    if classes is not None:
        overrides.append("track.classes=[" + ",".join(c.strip() for c in classes.split(",") if c.strip()) + "]")
    cfg = _load_config(config, overrides)
    from reid.outputs import check_not_overlapping

    check_not_overlapping(out, [config])
    stop = threading.Event()
    report_now = threading.Event()
    _report_on_sigusr1(report_now)  # at once: SIGUSR1's default action would end the process

    def notice(camera: str | None, text: str) -> None:
        where = f"camera {camera}: " if camera else ""
        err_console.print(f"[bold yellow]warning:[/] {where}{text}", soft_wrap=True, highlight=False)

    with progress(transient=True) as bar:
        tasks: dict[str, object] = {}

        def on_progress(done: int, total: int | None = None, camera: str | None = None, **info: object) -> None:
            if camera not in tasks:
                tasks[camera] = bar.add_task(f"live {camera}", total=None, info="")
            text = "  ".join(f"{k}={v}" for k, v in info.items() if k != "stage")
            bar.update(tasks[camera], completed=done, info=text)

        hooks = LiveHooks(progress=on_progress, notice=notice, stop=stop, report_request=report_now)
        previous = _stop_gracefully(stop)
        try:
            result = run_live(LiveOptions(sources, out, gallery, overwrite), cfg, hooks)
        finally:
            _restore(previous)
    _render(console, result)
    if result.interrupted:
        raise typer.Exit(130)


def _stop_gracefully(stop: object) -> dict:
    """Ctrl-C or SIGTERM asks the cameras to stop: their open tracks are emitted and recorded, status.json says
    ``interrupted``. A second one stops at once."""
    import signal

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():  # type: ignore[attr-defined]
            raise KeyboardInterrupt
        stop.set()  # type: ignore[attr-defined]

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}


def _report_on_sigusr1(event: object) -> None:
    import signal

    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, lambda signum, frame: event.set())  # type: ignore[attr-defined]


def _restore(previous: dict) -> None:
    import signal

    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _load_config(config: Path | None, overrides: list[str]):  # type: ignore[no-untyped-def]
    """The live config: --config of kind 'live', or of kind 'track' taken as its track: section."""
    from reid.config import read_yaml
    from reid.live.config import LiveConfig

    from .common import load_command_config

    if config is not None:
        data = read_yaml(config)
        if data.get("kind") == "track":
            data.pop("kind")
            return load_command_config(LiveConfig, None, overrides, base={"track": data})
    return load_command_config(LiveConfig, config, overrides)


def _render(console, result) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title=f"live run: {result.events} tracklets, {result.new_identities} new identities, "
                        f"{result.known_identities} known before")
    for col in ("camera", "state", "frames", "dropped", "reconnects", "tracklets"):
        table.add_column(col, justify="left" if col in ("camera", "state") else "right")
    for name, s in sorted(result.cameras.items()):
        table.add_row(name, s.state, str(s.frames), str(s.frames_dropped), str(s.reconnects), str(s.tracklets))
    for f in result.failures:
        table.add_row(f.camera, "failed", "-", "-", "-", "-")
    console.print(table)
    lat = result.latency
    if lat.count:
        console.print(f"latency from a track's end to its global id: p50 {lat.p50:.3f} s, p99 {lat.p99:.3f} s")
    seen = result.since_seen
    if seen.count:
        console.print(f"from a vehicle's last frame to its global id: p50 {seen.p50:.2f} s, p99 {seen.p99:.2f} s")
    cal = result.calibration
    if cal.get("source") == "self":
        console.print(f"linking threshold {result.threshold:.3f}, calibrated on these streams "
                      f"({cal.get('pairs')} surely-different pairs, {cal.get('matches')} confident matches)")
    elif cal.get("source") == "fallback":
        console.print(f"linking threshold {result.threshold:.3f} (the fallback: too few pairs to calibrate on, "
                      f"{cal.get('pairs')} pairs and {cal.get('matches')} matches)")
    else:
        console.print(f"linking threshold {result.threshold:.3f} (given)")
    console.print(f"events: {result.out / 'events.jsonl'}; report: {result.report_path}; gallery: {result.gallery}")
    if result.interrupted:
        console.print("stopped on request; the same command continues the run")
