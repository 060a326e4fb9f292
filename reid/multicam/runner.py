"""``reid track CAMERAS_DIR``: every camera of a folder tracked (in parallel where the machine allows), then
linked across cameras through the gallery, then written out with global ids.

Layout of the output folder::

    manifest.json            finished cameras and the run key (the resume record; updated last)
    cameras/<camera>/        one camera's working folder: its local-id MOT file and kept crops
    tracklets/<camera>.npz   tracklet vectors of a finished camera (+ .jsonl with times, frames and crops)
    mot/<camera>.txt         MOTChallenge rows with global ids
    video/<camera>.mp4       annotated video with global ids (when save_video)
    identities.json          global id -> sightings per camera with times and crop paths
    report.html              one self-contained page: crops per identity and a camera timeline
    gallery/                 the default gallery (faiss + SQLite) unless --gallery points elsewhere

Workers: on CPU each camera runs in its own process (``workers`` defaults to min(cameras, cores)), with torch
threads shared out among them; with CUDA one process runs the cameras one after another on the GPU. Progress
events of the workers come back through a multiprocessing queue and are passed to ``progress`` as
``progress(done, total, camera=name, stage="track", ...)``; linking and writing report ``stage="link"`` and
``stage="outputs"`` with ``camera=None``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid.errors import ConfigError, InputError, ReidError
from reid.gallery.config import LinkConfig
from reid.io import atomic_write_json, prepare_output_dir
from reid.multicam.discover import CAMERAS_YAML, CameraFolder, CameraSource, discover_cameras
from reid.multicam.manifest import MANIFEST, Manifest, load_tracklets, save_tracklets
from reid.types import Tracklet

Progress = Callable[..., None]

# paths this runner owns inside an output folder (what --overwrite clears)
OWNED = (MANIFEST, "cameras", "tracklets", "mot", "video", "identities.json", "report.html", "status.json",
         "cameras.yaml")


@dataclass
class CameraRun:
    """What one camera contributed: frames, tracklets, and whether its input ended early."""

    name: str
    source: str
    frames: int
    fps: float
    tracklets: int
    start_time: float = 0.0
    incomplete: bool = False
    warning: str = ""
    seconds: float = 0.0
    resumed: bool = False


@dataclass
class MultiCamResult:
    """Summary of a camera-folder run (what the CLI prints)."""

    out_dir: Path
    gallery: Path
    cameras: list[CameraRun]
    skipped: list[tuple[str, str]]
    identities: int
    cross_camera: int
    known_before: int
    tracklets: int
    identities_path: Path
    report_path: Path | None
    mot_dir: Path
    warnings: list[str] = field(default_factory=list)
    mapping: dict[str, dict[int, int]] = field(default_factory=dict)  # camera -> {track_id: global_id}
    linking: dict[str, Any] | None = None  # threshold and travel windows used (reid.gallery.linker.LinkReport)
    learned_cameras: Path | None = None  # cameras.yaml with the learned travel windows, when they were learned


# ------------------------------------------------------------------------------------------ embedder


def build_embedder(config: Any):
    """The tracklet embedder of a :class:`reid.video.config.TrackConfig`; linking needs vectors, so
    tracking without embedding is refused here."""
    from reid.video.pipeline import load_embedder

    if not getattr(config, "embed", True):
        raise ConfigError("linking cameras needs tracklet vectors, but embedding is switched off",
                          "drop --no-reid (or embed=false) for a folder of cameras")
    return load_embedder(config)


# ------------------------------------------------------------------------------------------ one camera


def _camera_config(config: Any, cam: CameraSource, cameras_cfg: Any) -> Any:
    """Per-camera settings: a frames folder takes its frame rate from cameras.yaml; crops are always kept
    (the report and identities.json show them); the annotated video is drawn later, with global ids."""
    update: dict[str, Any] = {"save_crops": True, "save_video": False}
    if cam.kind == "frames" and cameras_cfg is not None and cam.name in cameras_cfg.cameras and config.fps is None:
        update["fps"] = cameras_cfg.cameras[cam.name].fps
    return config.model_copy(update=update)


def process_camera(task: dict[str, Any], embedder: Any = None, progress: Progress | None = None) -> dict[str, Any]:
    """Track one camera into its working folder and save its tracklets; returns a summary dict.

    Runs in a worker process (``embedder`` None: built here from the config) or in the main process.
    Expected failures come back as ``{"error": ...}`` so that their class and hint survive the process boundary.
    """
    from reid.video.pipeline import track_video

    try:
        if task.get("threads"):
            import torch

            torch.set_num_threads(int(task["threads"]))
        config = task["config"]
        if embedder is None:
            embedder = build_embedder(config)
        work = Path(task["work_dir"])
        work.mkdir(parents=True, exist_ok=True)
        queue = task.get("queue")
        camera = task["camera"]

        def report(done: int, total: int | None = None, **info: Any) -> None:
            if progress is not None:
                progress(done, total, camera=camera, stage="track", **info)
            elif queue is not None:
                queue.put((camera, done, total, info))

        result = track_video(task["source"], camera, config, embedder, work, progress=report,
                             time_offset=float(task["start_time"]))
        save_tracklets(Path(task["out_dir"]), camera, result.tracklets, embedder.dim)
        return {"camera": camera, "source": result.source, "frames": result.frames, "fps": result.fps,
                "tracklets": len(result.tracklets), "incomplete": result.incomplete, "warning": result.warning,
                "seconds": result.seconds, "start_time": float(task["start_time"])}
    except ReidError as exc:
        return {"camera": task["camera"], "error": exc.message, "hint": exc.hint, "type": type(exc).__name__}


def _raise_worker_error(summary: dict[str, Any]) -> None:
    import reid.errors as errors

    cls = getattr(errors, summary.get("type", ""), ReidError)
    raise cls(f"camera {summary['camera']}: {summary['error']}", summary.get("hint"))


# ------------------------------------------------------------------------------------------ the run


def _load_cameras_yaml(source: Path, cameras_yaml: str | Path | None):
    from reid.cameras import load_cameras

    if cameras_yaml is not None:
        path = Path(cameras_yaml)
        if not path.is_file():
            raise InputError(f"cameras file {path} does not exist", "check --cameras-yaml")
        return load_cameras(path), path
    path = source / CAMERAS_YAML
    return (load_cameras(path), path) if path.is_file() else (None, None)


def _clear_owned(out: Path, gallery: Path) -> None:
    for name in OWNED:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    default_gallery = out / "gallery"
    if gallery.resolve() == default_gallery.resolve() and default_gallery.is_dir():
        shutil.rmtree(default_gallery)


def default_workers(cameras: int, device: str) -> int:
    """One process per camera up to the number of cores on CPU; one process on a GPU."""
    from reid.device import resolve_device

    if resolve_device(device).startswith("cuda"):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cameras, cores))


def run_camera_folder(
    source_dir: str | Path,
    out_dir: str | Path,
    track_config: Any,
    link_config: LinkConfig | None = None,
    gallery_dir: str | Path | None = None,
    cameras_yaml: str | Path | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    report: bool = True,
    embedder: Any = None,
) -> MultiCamResult:
    """Track every camera of ``source_dir``, link them through the gallery and write the run's outputs.

    Rerunning the same command resumes: finished cameras (per ``manifest.json``) are loaded, not tracked
    again. ``embedder`` may be passed to reuse a loaded network (it is used in-process, so with one worker).
    """
    source = Path(source_dir).resolve()
    out = Path(out_dir).resolve()
    link_config = link_config or LinkConfig()
    gallery_path = Path(gallery_dir).resolve() if gallery_dir is not None else out / "gallery"
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    cameras_cfg, yaml_path = _load_cameras_yaml(source, cameras_yaml)
    only = sorted(cameras_cfg.cameras) if cameras_cfg is not None and cameras_cfg.cameras else None
    folder = discover_cameras(source, only)

    settings = {"track": track_config.model_dump(mode="json"), "cameras": folder.names,
                "cameras_yaml": cameras_cfg.model_dump(mode="json") if cameras_cfg is not None else None}
    if overwrite and out.is_dir():
        _clear_owned(out, gallery_path)
    if not (out / MANIFEST).is_file():
        prepare_output_dir(out, overwrite)
    manifest, resumed = Manifest.load_or_create(out, str(source), settings)

    if embedder is None:
        embedder = build_embedder(track_config)
    # refuse a foreign gallery before hours of tracking, not after
    from reid.gallery.gallery import Gallery

    weights = getattr(embedder, "meta", {}).get("weights")
    Gallery.open(gallery_path, embedder=embedder.identity, dim=embedder.dim, cfg=link_config.index,
                 weights=weights).close()

    start_times = {c.name: (cameras_cfg.cameras[c.name].start_time
                            if cameras_cfg is not None and c.name in cameras_cfg.cameras else 0.0)
                   for c in folder.cameras}
    pending = [c for c in folder.cameras if manifest.finished(c.name) is None]
    for cam in pending:  # an interrupted camera's partial work is never taken for finished work
        shutil.rmtree(out / "cameras" / cam.name, ignore_errors=True)
    tasks = [{"camera": c.name, "source": str(c.path), "work_dir": str(out / "cameras" / c.name),
              "out_dir": str(out), "start_time": start_times[c.name],
              "config": _camera_config(track_config, c, cameras_cfg)} for c in pending]
    n_workers = min(workers or default_workers(len(tasks), track_config.device), max(1, len(tasks)))
    _track_all(tasks, manifest, n_workers, embedder, progress)

    runs = [_camera_run(manifest.finished(c.name), c, resumed=c not in pending) for c in folder.cameras]
    return _link_and_write(out, source, folder, runs, manifest, link_config, cameras_cfg, gallery_path,
                           embedder, track_config, report, progress, yaml_path)


def _camera_run(summary: dict[str, Any], cam: CameraSource, resumed: bool) -> CameraRun:
    return CameraRun(name=cam.name, source=str(cam.path), frames=int(summary["frames"]), fps=float(summary["fps"]),
                     tracklets=int(summary["tracklets"]), start_time=float(summary.get("start_time", 0.0)),
                     incomplete=bool(summary.get("incomplete")), warning=str(summary.get("warning", "")),
                     seconds=float(summary.get("seconds", 0.0)), resumed=resumed)


def _track_all(tasks: list[dict[str, Any]], manifest: Manifest, workers: int, embedder: Any,
               progress: Progress | None) -> None:
    if not tasks:
        return
    if workers <= 1:
        for task in tasks:
            summary = process_camera(task, embedder=embedder, progress=progress)
            if "error" in summary:
                _raise_worker_error(summary)
            manifest.mark_finished(task["camera"], summary)
        return
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: safe with torch's thread pools
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    with ctx.Manager() as manager:
        queue = manager.Queue()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        try:
            futures = {}
            for task in tasks:
                futures[pool.submit(process_camera, {**task, "queue": queue,
                                                     "threads": max(1, cores // workers)})] = task["camera"]
            first_error: dict[str, Any] | None = None
            while futures:
                done, _ = wait(list(futures), timeout=0.2, return_when=FIRST_COMPLETED)
                _drain(queue, progress)
                for fut in done:
                    futures.pop(fut)
                    summary = fut.result()
                    if "error" in summary:
                        first_error = first_error or summary
                    else:
                        manifest.mark_finished(summary["camera"], summary)
            _drain(queue, progress)
            if first_error is not None:
                _raise_worker_error(first_error)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _drain(queue: Any, progress: Progress | None) -> None:
    import queue as queue_mod

    while True:
        try:
            camera, done, total, info = queue.get_nowait()
        except queue_mod.Empty:
            return
        if progress is not None:
            progress(done, total, camera=camera, stage="track", **info)


# ------------------------------------------------------------------------------------------ linking


def _link_and_write(out: Path, source: Path, folder: CameraFolder, runs: list[CameraRun], manifest: Manifest,
                    link_config: LinkConfig, cameras_cfg: Any, gallery_path: Path, embedder: Any,
                    track_config: Any, report: bool, progress: Progress | None,
                    yaml_path: Path | None) -> MultiCamResult:
    from reid.gallery.gallery import Gallery
    from reid.gallery.linker import Sighting, link
    from reid.gallery.store import StoredTracklet

    tracklets: dict[str, list[Tracklet]] = {c.name: load_tracklets(out, c.name) for c in folder.cameras}
    warnings = [f"camera {r.name}: {r.warning or 'input ended early'}" for r in runs if r.incomplete]
    key = manifest.run_key
    linking = manifest.data.get("link", {}).get("report")
    learned_cameras = out / "cameras.yaml" if (out / "cameras.yaml").is_file() else None
    with Gallery.open(gallery_path, embedder=embedder.identity, dim=embedder.dim, cfg=link_config.index) as gallery:
        if gallery.has_run(key):
            # linked before (a crash, an interruption, or a plain rerun): the gallery holds this run's answer
            linked_with = manifest.data.get("link", {}).get("config")
            if linked_with is not None and linked_with != link_config.model_dump(mode="json"):
                warnings.append("this run was linked before with other link settings; the gallery keeps that "
                                "linking (pass --overwrite to track and link again)")
            mapping: dict[str, dict[int, int]] = {c: {} for c in tracklets}
            for t in gallery.store.tracklets(with_features=False, run=key):
                mapping.setdefault(t.camera, {})[t.track_id] = t.identity
            known = {t.identity for t in gallery.tracklets(with_features=False) if t.run != key}
            missing = [(c, t.track_id) for c, ts in tracklets.items() for t in ts
                       if t.feature is not None and t.track_id not in mapping.get(c, {})]
            if missing:
                raise ReidError(f"gallery {gallery_path} holds this run, but not camera {missing[0][0]}",
                                "pass --overwrite to process the cameras again")
            next_free = gallery.next_identity()
            for c, ts in tracklets.items():  # tracklets without a vector are not stored in the gallery
                for t in ts:
                    if t.track_id not in mapping[c]:
                        mapping[c][t.track_id] = next_free
                        next_free += 1
        else:
            stored = gallery.tracklets(with_features=True)
            known = {t.identity for t in stored}
            sightings = [Sighting(t.camera, t.t_start, t.t_end, t.feature, key=("gallery", t.row_id),
                                  identity=t.identity, num_boxes=t.num_boxes) for t in stored]
            new: list[Tracklet] = [t for c in folder.names for t in tracklets[c]]
            from reid.gallery.flows import run_motions

            motions = run_motions(out / "cameras", folder.names)  # which way each tracklet moved
            sightings += [Sighting(t.camera, t.first_time, t.last_time, t.feature, key=(t.camera, t.track_id),
                                   num_boxes=t.num_boxes, motion=motions.get((t.camera, t.track_id))) for t in new]
            if progress is not None:
                progress(0, len(new), camera=None, stage="link")
            result = link(sightings, link_config, cameras_cfg, next_id=gallery.next_identity())
            # what linking chose (threshold, learned windows) goes to identities.json and the summary
            linking = result.report.as_dict() if result.report is not None else None
            learned_cameras = _write_learned_windows(out, result.report, runs)
            ids = result.identities[len(stored):]
            mapping = {c: {} for c in folder.names}
            rows = []
            for t, gid in zip(new, ids, strict=True):
                mapping[t.camera][t.track_id] = gid
                if t.feature is not None:
                    rows.append(StoredTracklet(
                        row_id=-1, camera=t.camera, track_id=t.track_id, cls=t.cls, first_frame=t.first_frame,
                        last_frame=t.last_frame, t_start=t.first_time, t_end=t.last_time, num_boxes=t.num_boxes,
                        identity=gid, run=key, crops=[str(Path(p).resolve()) for p in t.crop_paths],
                        feature=t.feature))
            cams_info = {r.name: {"fps": r.fps, "start_time": r.start_time} for r in runs}
            gallery.add_run(key, str(source), cams_info, rows, result.new_identities)
            if progress is not None:
                progress(len(new), len(new), camera=None, stage="link")

    # outputs: global-id MOT files (and videos), identities.json, report.html
    total = len(runs) + 2
    for i, run in enumerate(runs):
        _write_camera_outputs(out, run, mapping[run.name], track_config, folder, cameras_cfg)
        if progress is not None:
            progress(i + 1, total, camera=None, stage="outputs")
    doc = identities_document(key, source, gallery_path, runs, tracklets, mapping, known, out)
    if linking is not None:
        doc["linking"] = linking
    identities_path = out / "identities.json"
    atomic_write_json(identities_path, doc)
    report_path = None
    if report:
        from reid.report.html import write_report

        summary = {"source": str(source), "gallery": str(gallery_path)}
        if yaml_path is not None:
            summary["topology"] = "on" if (link_config.use_topology and cameras_cfg is not None
                                           and cameras_cfg.links) else "off"
        report_path = write_report(out / "report.html", doc, base_dir=out, summary=summary)
    if progress is not None:
        progress(total, total, camera=None, stage="outputs")
    if not manifest.data.get("linked") or "config" not in manifest.data.get("link", {}):
        manifest.mark_linked({"identities": len(doc["identities"]), "time": time.time(),
                              "config": link_config.model_dump(mode="json"), "report": linking})
    multi = sum(1 for i in doc["identities"] if len(i["cameras"]) > 1)
    return MultiCamResult(
        out_dir=out, gallery=gallery_path, cameras=runs, skipped=folder.skipped, identities=len(doc["identities"]),
        cross_camera=multi, known_before=sum(1 for i in doc["identities"] if i["known_before"]),
        tracklets=sum(len(v) for v in tracklets.values()), identities_path=identities_path,
        report_path=report_path, mot_dir=out / "mot", warnings=warnings, mapping=mapping, linking=linking,
        learned_cameras=learned_cameras,
    )


def _write_learned_windows(out: Path, report: Any, runs: list[CameraRun]) -> Path | None:
    """``<out>/cameras.yaml`` with the travel windows linking learned (none learned: no file)."""
    if report is None or report.travel_source != "learned" or report.travel is None:
        return None
    from reid.gallery.travel import write_cameras_yaml

    path = out / "cameras.yaml"
    write_cameras_yaml(path, report.travel, {r.name: {"fps": r.fps, "start_time": r.start_time} for r in runs})
    return path


def _rel(path: str, out: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(out))
    except ValueError:
        return str(path)


def _write_camera_outputs(out: Path, run: CameraRun, mapping: dict[int, int], track_config: Any,
                          folder: CameraFolder, cameras_cfg: Any) -> None:
    from reid.video.pipeline import relabel_camera
    from reid.video.writers import mot_path

    local = mot_path(out / "cameras" / run.name, run.name)
    final = mot_path(out, run.name)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.copy")
    shutil.copyfile(local, tmp)
    os.replace(tmp, final)
    cam = next(c for c in folder.cameras if c.name == run.name)
    source = str(cam.path) if track_config.save_video else None
    relabel_camera(out, run.name, mapping, source=source, config=_camera_config(track_config, cam, cameras_cfg))


def identities_document(key: str, source: Path, gallery: Path, runs: list[CameraRun],
                        tracklets: dict[str, list[Tracklet]], mapping: dict[str, dict[int, int]],
                        known: set[int], out: Path) -> dict[str, Any]:
    """The ``identities.json`` document: global id -> sightings per camera, in time order."""
    by_id: dict[int, list[dict[str, Any]]] = {}
    for cam, ts in tracklets.items():
        for t in ts:
            by_id.setdefault(mapping[cam][t.track_id], []).append({
                "camera": cam, "track_id": t.track_id, "t_start": round(t.first_time, 4),
                "t_end": round(t.last_time, 4), "first_frame": t.first_frame + 1, "last_frame": t.last_frame + 1,
                "num_boxes": t.num_boxes, "crops": [_rel(p, out) for p in t.crop_paths]})
    identities = []
    for gid in sorted(by_id):
        sightings = sorted(by_id[gid], key=lambda s: (s["t_start"], s["camera"], s["track_id"]))
        identities.append({"global_id": gid, "known_before": gid in known,
                           "cameras": sorted({s["camera"] for s in sightings}),
                           "first_time": sightings[0]["t_start"], "last_time": max(s["t_end"] for s in sightings),
                           "sightings": sightings})
    cameras = {r.name: {"fps": r.fps, "start_time": r.start_time, "frames": r.frames,
                        "duration": round(r.frames / r.fps, 4) if r.fps else None, "source": r.source,
                        "incomplete": r.incomplete} for r in runs}
    return {"format": "reid-identities", "version": 1, "run": key, "source": str(source), "gallery": str(gallery),
            "cameras": cameras, "identities": identities}
