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

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reid.engine.local import LocalEngine
from reid.engine.messages import CameraFailed, CameraFinished, CameraJob, CameraProgress, TrackletEvent
from reid.errors import ConfigError, InputError, ReidError
from reid.gallery.config import LinkConfig
from reid.identities import identity_entries
from reid.io import atomic_write, atomic_write_json
from reid.multicam.cityflow import with_layout_start_times
from reid.multicam.discover import CAMERAS_YAML, CameraFolder, CameraSource, discover_cameras
from reid.multicam.manifest import MANIFEST, Manifest, load_tracklets, save_tracklets
from reid.outputs import OutputFolder, check_not_overlapping, claim, remove_tree
from reid.procs import available_cores, cap_workers
from reid.types import Tracklet

Progress = Callable[..., None]

# top-level names this runner writes inside an output folder (one that exists and is not ours is refused)
OWNED = (MANIFEST, "cameras", "tracklets", "mot", "video", "identities.json", "report.html", "status.json",
         "gallery", "cameras.yaml")
GALLERY_FILES = ("gallery.sqlite", "gallery.sqlite-wal", "gallery.sqlite-shm", "gallery.sqlite-journal",
                 "index.faiss")


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
    if cam.roi is not None and config.roi is None:  # a CityFlow camera's roi.jpg (reid.video.roi)
        update["roi"] = str(cam.roi)
    if cam.kind == "frames" and cameras_cfg is not None and cam.name in cameras_cfg.cameras and config.fps is None:
        update["fps"] = cameras_cfg.cameras[cam.name].fps
    return config.model_copy(update=update)


def _raise_worker_error(failure: CameraFailed) -> None:
    import reid.errors as errors

    cls = getattr(errors, failure.kind, ReidError)
    if not (isinstance(cls, type) and issubclass(cls, ReidError)):
        cls = ReidError
    raise cls(f"camera {failure.camera}: {failure.message}", failure.hint)


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


def _claim_gallery(gallery: Path) -> None:
    """Record the files of a gallery created inside the output folder (SQLite creates them itself), so that
    ``--overwrite`` removes them as ours; a gallery elsewhere (``--gallery DIR``) is never recorded or removed."""
    for name in GALLERY_FILES:
        claim(gallery / name)


def default_workers(cameras: int, device: str) -> int:
    """One process per camera up to the number of cores on CPU; one process on a GPU."""
    from reid.device import resolve_device

    if resolve_device(device).startswith("cuda"):
        return 1
    return max(1, min(cameras, available_cores()))


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
    # CityFlow / AI City layout: start times from cam_timestamp/<scenario>.txt (reid.multicam.cityflow)
    cameras_cfg = with_layout_start_times(source, folder.names, cameras_cfg)

    # what makes two runs the same run (the engine that runs the cameras does not change their outputs)
    settings = {"track": track_config.model_dump(mode="json", exclude={"engine"}), "cameras": folder.names,
                "cameras_yaml": cameras_cfg.model_dump(mode="json") if cameras_cfg is not None else None}
    inputs = [source, yaml_path, track_config.reid_weights, track_config.det_weights, track_config.roi,
              *(c.path for c in folder.cameras)]
    if gallery_dir is not None:  # a gallery the user named is an input, even where the default would be
        inputs.append(gallery_path)
    check_not_overlapping(out, inputs)
    reuse = embedder is not None  # a network the caller loaded runs in this process, one camera at a time
    if embedder is None:
        embedder = build_embedder(track_config)  # refused (no embedding) or loaded before anything is written
    from reid.video.detectors import check_detector

    check_detector(track_config)  # weights that are missing or would run code: refused before anything is written
    from reid.video.config import load_tracker_config

    load_tracker_config(track_config.tracker)  # and a tracker YAML that is missing or broken
    OutputFolder.prepare(out, overwrite, inputs=inputs, owned=OWNED,
                         resume=not overwrite and (out / MANIFEST).is_file())
    if gallery_path == out / "gallery":
        _claim_gallery(gallery_path)
    manifest, resumed = Manifest.load_or_create(out, str(source), settings)
    manifest.recheck_finished(out)  # a camera whose saved files are damaged is processed again
    _check_gallery(gallery_path, embedder, link_config)  # a foreign gallery: refused before hours of tracking

    start_times = {c.name: (cameras_cfg.cameras[c.name].start_time
                            if cameras_cfg is not None and c.name in cameras_cfg.cameras else 0.0)
                   for c in folder.cameras}
    pending = [c for c in folder.cameras if manifest.finished(c.name) is None]
    for cam in pending:  # an interrupted camera's partial work is never taken for finished work
        remove_tree(out / "cameras" / cam.name)
    jobs = [CameraJob(camera=c.name, source=str(c.path), out_dir=str(out), work_dir=str(out / "cameras" / c.name),
                      config=_camera_config(track_config, c, cameras_cfg), start_time=start_times[c.name])
            for c in pending]
    engine = _engine(track_config, jobs, workers, embedder if reuse else None, embedder)
    try:
        _track_all(engine, jobs, manifest, out, embedder.dim, progress)
    finally:
        if hasattr(engine, "shutdown"):
            engine.shutdown()

    runs = [_camera_run(manifest.finished(c.name), c, resumed=c not in pending) for c in folder.cameras]
    return _link_and_write(out, source, folder, runs, manifest, link_config, cameras_cfg, gallery_path,
                           embedder, track_config, report, progress, yaml_path)


def _check_gallery(gallery_path: Path, embedder: Any, link_config: LinkConfig) -> None:
    from reid.gallery.gallery import Gallery

    weights = getattr(embedder, "meta", {}).get("weights")
    Gallery.open(gallery_path, embedder=embedder.identity, dim=embedder.dim, cfg=link_config.index,
                 weights=weights).close()


def _engine(track_config: Any, jobs: list[CameraJob], workers: int | None, reused: Any, embedder: Any) -> Any:
    """The engine that runs the cameras: Ray, or local processes (in this process with one worker or a network
    the caller loaded)."""
    if track_config.engine.name == "ray":
        from reid.engine.ray import RayEngine

        return RayEngine(config=track_config.engine)
    n_workers = min(workers or default_workers(len(jobs), track_config.device), max(1, len(jobs)))
    n_workers = cap_workers(n_workers)[0]  # the CLI has told the user already
    if reused is not None:
        return LocalEngine(workers=1, embedder=reused)
    return LocalEngine(workers=n_workers, embedder=embedder if n_workers <= 1 else None)


def _camera_run(summary: dict[str, Any], cam: CameraSource, resumed: bool) -> CameraRun:
    return CameraRun(name=cam.name, source=str(cam.path), frames=int(summary["frames"]), fps=float(summary["fps"]),
                     tracklets=int(summary["tracklets"]), start_time=float(summary.get("start_time", 0.0)),
                     incomplete=bool(summary.get("incomplete")), warning=str(summary.get("warning", "")),
                     seconds=float(summary.get("seconds", 0.0)), resumed=resumed)


def _track_all(engine: Any, jobs: list[CameraJob], manifest: Manifest, out: Path, dim: int,
               progress: Progress | None) -> None:
    """Run the camera workers; save each finished camera's tracklets and record it in the manifest.

    The driver (this process) is the only writer of ``tracklets/`` and ``manifest.json``: a camera counts as
    finished only once both are written. A camera that fails does not stop the others; the first failure is
    raised when every camera has ended, with the finished ones kept for a resume.
    """
    collected: dict[str, list[Tracklet]] = {j.camera: [] for j in jobs}
    failures: list[CameraFailed] = []

    def on_message(message: Any) -> None:
        if isinstance(message, CameraProgress):
            if progress is not None:
                progress(message.done, message.total, camera=message.camera, stage="track", **message.info)
        elif isinstance(message, TrackletEvent):
            collected[message.camera].append(_tracklet(message))
        elif isinstance(message, CameraFinished):
            save_tracklets(out, message.camera, collected.pop(message.camera, []), dim)
            manifest.mark_finished(message.camera, asdict(message.summary))
        elif isinstance(message, CameraFailed):
            collected.pop(message.camera, None)
            failures.append(message)

    engine.run(jobs, on_message)
    if failures:
        _raise_worker_error(failures[0])


def _tracklet(event: TrackletEvent) -> Tracklet:
    return Tracklet(camera=event.camera, track_id=event.track_id, cls=event.cls, first_frame=event.first_frame,
                    last_frame=event.last_frame, first_time=event.t_start, last_time=event.t_end,
                    num_boxes=event.num_boxes, crop_paths=list(event.crops), feature=event.feature)


# ------------------------------------------------------------------------------------------ linking


def _link_and_write(out: Path, source: Path, folder: CameraFolder, runs: list[CameraRun], manifest: Manifest,
                    link_config: LinkConfig, cameras_cfg: Any, gallery_path: Path, embedder: Any,
                    track_config: Any, report: bool, progress: Progress | None,
                    yaml_path: Path | None) -> MultiCamResult:
    from reid.gallery.gallery import Gallery, wait_reporter
    from reid.gallery.linker import Sighting, link
    from reid.gallery.store import StoredTracklet

    tracklets: dict[str, list[Tracklet]] = {c.name: load_tracklets(out, c.name) for c in folder.cameras}
    warnings = manifest.warnings + [f"camera {r.name}: {r.warning or 'input ended early'}" for r in runs if r.incomplete]
    key = manifest.run_key
    linking = manifest.link.get("report")
    learned_cameras = out / "cameras.yaml" if (out / "cameras.yaml").is_file() else None
    with Gallery.open(gallery_path, embedder=embedder.identity, dim=embedder.dim, cfg=link_config.index,
                      lock=True, on_wait=wait_reporter(progress)) as gallery:  # one writer at a time
        if gallery.has_run(key):
            # linked before (a crash, an interruption, or a plain rerun): the gallery holds this run's answer
            linked_with = manifest.link.get("config")
            if linking is None:  # the manifest was lost or damaged: the gallery kept what linking chose
                linking = gallery.store.run_report(key)
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
            gallery.add_run(key, str(source), cams_info, rows, result.new_identities, report=linking)
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
    if not manifest.data.get("linked") or "config" not in manifest.link:
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
    with open(local, "rb") as src, atomic_write(final, "wb") as dst:
        dst.write(src.read())
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
    identities = identity_entries(by_id, known)
    cameras = {r.name: {"fps": r.fps, "start_time": r.start_time, "frames": r.frames,
                        "duration": round(r.frames / r.fps, 4) if r.fps else None, "source": r.source,
                        "incomplete": r.incomplete} for r in runs}
    return {"format": "reid-identities", "version": 1, "run": key, "source": str(source), "gallery": str(gallery),
            "cameras": cameras, "identities": identities}
