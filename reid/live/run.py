"""``reid live SOURCES.yaml``: many camera streams at once, a global id for each vehicle as soon as it leaves a view.

Camera workers (one per camera, run by an engine) read their streams in real time and emit
:class:`~reid.engine.messages.TrackletEvent` values; this process, the driver, is the one owner of identities
and of the gallery. For each event, in arrival order, it:

1. gives it a global id at once (:class:`reid.live.linker.OnlineLinker`), never changed during the run;
2. stores it in the gallery in one transaction;
3. appends a line to ``events.jsonl`` (with the latency from the track's end to its id) and the event's boxes
   to ``mot/<camera>.txt``.

``status.json`` is kept current, ``report.html`` is written at the end and on SIGUSR1, and ``live.json`` lets the
same command continue the run later: identities keep their ids, local ids and frame numbers continue.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid.engine.messages import (
    CameraFailed,
    CameraFinished,
    CameraJob,
    CameraProgress,
    CameraStatus,
    CameraSummary,
    TrackletEvent,
)
from reid.errors import ConfigError, InputError, OutputError
from reid.live.config import LiveConfig
from reid.live.outputs import (
    EVENTS,
    FORMAT,
    VERSION,
    LiveOutputs,
    load_manifest,
    repair_events,
    report_document,
    save_manifest,
)
from reid.live.sources import LiveSource, load_sources

OWNED = ("live.json", "events.jsonl", "mot", "crops", "status.json", "report.html", "gallery", "config.yaml")


@dataclass
class LiveOptions:
    """Where a live run reads and writes."""

    sources: Path
    out: Path
    gallery: Path | None = None
    overwrite: bool = False


@dataclass
class LiveHooks:
    """How the caller follows the run: ``progress(done, total, camera=..., stage="live", **info)``,
    ``notice(camera, text)`` for one camera's problems, ``stop`` to end the run from outside."""

    progress: Callable[..., None] | None = None
    notice: Callable[[str | None, str], None] | None = None
    stop: threading.Event | None = None
    engine: Any = None  # an engine object (default: from the config)
    embedder: Any = None  # a loaded network (tests); else loaded from track.reid_weights
    report_request: threading.Event | None = None  # set it to have report.html written now (the CLI: SIGUSR1)


@dataclass
class LatencyStats:
    count: int = 0
    p50: float | None = None
    p99: float | None = None
    max: float | None = None


@dataclass
class LiveResult:
    out: Path
    gallery: Path
    cameras: dict[str, CameraSummary]
    failures: list[CameraFailed]
    events: int
    new_identities: int
    known_identities: int
    latency: LatencyStats  # from each track's end (as its camera decided it) to its global id
    since_seen: LatencyStats  # from the last frame each vehicle was seen in to its global id
    report_path: Path | None
    interrupted: bool
    threshold: float  # the linking threshold at the end (fixed, or as self-calibrated on the streams)
    calibration: dict[str, Any] = field(default_factory=dict)  # where the threshold came from, with its counts
    warnings: list[str] = field(default_factory=list)


class _Driver:
    """The state of one live run in the driver process."""

    def __init__(self, options: LiveOptions, config: LiveConfig, hooks: LiveHooks) -> None:
        self.options = options
        self.config = config
        self.hooks = hooks
        self.latencies: list[float] = []  # track end (the worker's decision) -> global id
        self.since_seen: list[float] = []  # last frame the vehicle was seen in -> global id (ended tracks)
        self.failures: list[CameraFailed] = []
        self.finished: dict[str, CameraSummary] = {}
        self.new_ids: set[int] = set()
        self.known_ids: set[int] = set()
        self.report_requested = False
        self.workers: dict[str, dict[str, int]] = {}  # camera -> worker token -> id shift
        self.offsets: dict[str, int] = {}  # camera -> the id offset its jobs started from

    # -- set-up ------------------------------------------------------------------------------------------

    def prepare(self) -> list[CameraJob]:
        from reid.gallery.gallery import Gallery
        from reid.live.linker import OnlineLinker
        from reid.outputs import OutputFolder, check_not_overlapping
        from reid.video.pipeline import load_embedder

        opts, cfg = self.options, self.config
        sources, cameras_cfg = load_sources(opts.sources)
        self.sources = sources
        out = Path(opts.out)
        gallery_path = Path(opts.gallery).resolve() if opts.gallery is not None else out.resolve() / "gallery"
        inputs = [opts.sources, cfg.track.reid_weights, cfg.track.det_weights,
                  *(s.source for s in sources if s.is_file)]
        if opts.gallery is not None:
            inputs.append(opts.gallery)
        check_not_overlapping(out, inputs)
        if not cfg.track.embed:
            raise ConfigError("reid live links cameras, which needs tracklet vectors",
                              "drop --no-reid (or track.embed=false)")
        embedder = self.hooks.embedder if self.hooks.embedder is not None else load_embedder(cfg.track)
        manifest = None if opts.overwrite else load_manifest(out) if out.is_dir() else None
        source_map = {s.name: s.source for s in sources}
        _refuse_if_running(manifest, out)
        if manifest is not None and manifest.get("sources") != source_map:
            raise OutputError(f"{out} holds a live run of other sources",
                              "use the same SOURCES.yaml to continue it, another --out, or --overwrite")
        folder = OutputFolder.prepare(out, opts.overwrite, inputs=inputs, owned=OWNED, resume=manifest is not None)
        self.out = folder.root
        if gallery_path == self.out / "gallery":
            from reid.multicam.runner import _claim_gallery

            _claim_gallery(gallery_path)
        self.gallery_path = gallery_path
        self.embedder = embedder
        self.gallery = Gallery.open(gallery_path, embedder=embedder.identity, dim=embedder.dim,
                                    cfg=cfg.link.index, weights=getattr(embedder, "meta", {}).get("weights"))
        self.topology = cameras_cfg
        self.linker = OnlineLinker(cfg.link, cameras_cfg, next_id=self.gallery.next_identity())
        self.linker.seed_all(self.gallery.tracklets(with_features=True))

        now = time.time()
        self.manifest = manifest or {"format": FORMAT, "version": VERSION, "sources": source_map, "epoch": now,
                                     "sessions": [], "cameras": {}}
        repaired = repair_events(self.out)
        if repaired:
            self._notice(None, repaired)
        self._after_crash([s.name for s in sources])
        self.run_key = f"live-{uuid.uuid4().hex}"
        self.manifest["sessions"].append({"run": self.run_key, "started": now, "ended": None, **self._marks(sources)})
        save_manifest(self.out, self.manifest)
        from reid.live.store import LiveStore

        self.store = LiveStore(self.gallery, self.run_key, str(opts.sources),
                               {s.name: {"fps": None, "start_time": s.start_time} for s in sources})
        self.store.announce()  # `reid gallery relink` refuses a gallery a live run is writing
        self.outputs = LiveOutputs(self.out, cfg.status_every)
        live = cfg.model_copy()
        object.__setattr__(live, "epoch", float(self.manifest["epoch"]))  # the shared clock of the run
        track = cfg.track.model_copy(update={"save_crops": True, "save_video": False})
        jobs = []
        for s in sources:
            state = self.manifest["cameras"].setdefault(s.name, {"next_id": 0, "next_frame": 0})
            if s.problem is not None:
                self._fail(CameraFailed(s.name, "InputError", s.problem))
                continue
            self.offsets[s.name] = int(state["next_id"])
            jobs.append(CameraJob(camera=s.name, source=s.source, out_dir=str(self.out),
                                  work_dir=str(self.out / "crops" / s.name), config=track, mode="live",
                                  start_time=s.start_time, live=live, id_offset=int(state["next_id"]),
                                  frame_offset=0 if s.is_file else int(state["next_frame"])))
            self.outputs.camera_status(s.name, {"state": "starting", "source": s.source, "connected": False})
        if not jobs:
            raise InputError("no camera of " + str(opts.sources) + " can be opened: " +
                             "; ".join(f"{f.camera}: {f.message}" for f in self.failures))
        return jobs

    def _marks(self, sources: list[Any]) -> dict[str, Any]:
        """What a session records when it starts: who runs it, and where its appends begin (for a restart after
        it died without saving its counters)."""
        import socket

        from reid.outputs import checked_component

        events = self.out / EVENTS
        mot = {s.name: (self.out / "mot" / f"{checked_component(s.name)}.txt") for s in sources}
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "events_offset": events.stat().st_size if events.is_file() else 0,
                "mot_offsets": {name: (f.stat().st_size if f.is_file() else 0) for name, f in mot.items()}}

    def _after_crash(self, cameras: list[str]) -> None:
        """After a session that died without saving its counters (SIGKILL, power loss; one still running was
        refused by :func:`_refuse_if_running`), take them from what it appended, so no local id is given twice."""
        from reid.live.outputs import written_since

        sessions = self.manifest["sessions"]
        last = sessions[-1] if sessions else None
        if last is None or last.get("ended") is not None:
            return
        found = written_since(self.out, int(last.get("events_offset", 0)), dict(last.get("mot_offsets", {})))
        for camera in cameras:
            state = self.manifest["cameras"].setdefault(camera, {"next_id": 0, "next_frame": 0})
            seen = found.get(camera, {})
            state["next_id"] = max(int(state["next_id"]), seen.get("next_id", 0))
            state["next_frame"] = max(int(state["next_frame"]), seen.get("next_frame", 0))
        last["ended"] = last.get("started")  # it ended at some point; when is not known
        last["interrupted"] = True
        last["crashed"] = True

    # -- messages ----------------------------------------------------------------------------------------

    def on_message(self, message: Any) -> None:
        if isinstance(message, TrackletEvent):
            self._event(message)
        elif isinstance(message, CameraStatus):
            entry = asdict(message)
            entry.pop("camera")
            self.outputs.camera_status(message.camera, entry)
        elif isinstance(message, CameraProgress):
            if self.hooks.progress is not None:
                self.hooks.progress(message.done, message.total, camera=message.camera, stage="live",
                                    **message.info)
        elif isinstance(message, CameraFinished):
            self.finished[message.camera] = message.summary
            self.outputs.camera_status(message.camera, {"state": message.summary.state,
                                                        "connected": False,
                                                        "warning": message.summary.warning}, force=True)
            if message.summary.warning:
                self._notice(message.camera, message.summary.warning)
        elif isinstance(message, CameraFailed):
            self._fail(message)
        request = self.hooks.report_request
        if self.report_requested or (request is not None and request.is_set()):
            self.report_requested = False
            if request is not None:
                request.clear()
            self.write_report()

    def _event(self, e: TrackletEvent) -> None:
        e = self._localise(e)
        a = self.linker.assign(e.camera, e.track_id, e.t_start, e.t_end, e.feature, final=e.final)
        gid = self.store.record(e, a.global_id, a.new)
        if gid != a.global_id:  # another writer took the id meanwhile: the gallery's id is the one published
            self.linker.rename(a.global_id, gid)
        if a.new:
            self.new_ids.add(gid)
        elif a.known_before:
            self.known_ids.add(gid)
        now = time.time()
        latency = max(0.0, now - e.ended_wall) if e.ended_wall else 0.0
        since_seen = max(0.0, now - e.seen_wall) if e.seen_wall else None
        self.latencies.append(latency)
        if since_seen is not None and e.final:
            self.since_seen.append(since_seen)
        self.outputs.event({
            "wall_time": round(time.time(), 3), "camera": e.camera, "track_id": e.track_id, "global_id": gid,
            "t_start": round(e.t_start, 3), "t_end": round(e.t_end, 3),
            "similarity": None if a.similarity is None else round(a.similarity, 4),
            "new": a.new, "known_before": a.known_before, "final": e.final, "latency_s": round(latency, 4),
            "since_last_seen_s": None if since_seen is None else round(since_seen, 4),
            "first_frame": e.first_frame, "last_frame": e.last_frame, "num_boxes": e.num_boxes,
            "crops": [_rel(p, self.out) for p in e.crops]})
        self.outputs.mot_rows(e.camera, gid, e.boxes)
        state = self.manifest["cameras"][e.camera]
        state["next_id"] = max(int(state["next_id"]), int(e.track_id))
        if len(e.boxes):
            state["next_frame"] = max(int(state["next_frame"]), int(e.boxes[:, 0].max()) + 1)
        if e.final:
            self.linker.forget_track(e.camera, e.track_id)
            self.store.forget(e.camera, e.track_id)

    def _localise(self, e: TrackletEvent) -> TrackletEvent:
        """An event as this machine records it: crops that travelled inside it written into ``crops/``, and the
        local ids of a restarted worker moved past those the camera's earlier worker gave."""
        from dataclasses import replace

        from reid.io import atomic_write

        if e.crop_images:
            paths = []
            for rel, data in zip(e.crops, e.crop_images, strict=True):
                parts = Path(rel).parts
                if parts[:2] != ("crops", e.camera) or any(p in ("..", "") for p in parts):
                    raise InputError(f"camera {e.camera} sent a crop named {rel!r}, outside its crops folder")
                target = self.out.joinpath(*parts)
                with atomic_write(target, "wb") as handle:
                    handle.write(data)
                paths.append(str(target))
            e = replace(e, crops=paths, crop_images=[])
        if e.worker:
            workers = self.workers.setdefault(e.camera, {})
            if e.worker not in workers:  # a restarted worker: its ids start again after the job's offset
                seen = int(self.manifest["cameras"][e.camera]["next_id"])
                workers[e.worker] = seen - self.offsets.get(e.camera, 0) if workers else 0
            shift = workers[e.worker]
            if shift:
                e = replace(e, track_id=e.track_id + shift)
        return e

    def _fail(self, failure: CameraFailed) -> None:
        self.failures.append(failure)
        self.outputs.camera_status(failure.camera, {"state": "failed", "connected": False,
                                                    "error": failure.message}, force=True) \
            if hasattr(self, "outputs") else None
        self._notice(failure.camera, failure.message + (f" ({failure.hint})" if failure.hint else ""))

    def calibration(self) -> dict[str, Any]:
        if self.linker.calibration is not None:
            return self.linker.calibration.current.as_dict()
        return {"threshold": self.linker.threshold, "source": "config"}

    def _notice(self, camera: str | None, text: str) -> None:
        if self.hooks.notice is not None:
            self.hooks.notice(camera, text)

    # -- the end -----------------------------------------------------------------------------------------

    def write_report(self) -> Path:
        from reid.report.html import write_report

        cameras = {s.name: {"fps": None, "start_time": s.start_time, "source": s.source} for s in self.sources}
        doc = report_document(self.out, self.gallery_path, cameras)
        return write_report(self.out / "report.html", doc, base_dir=self.out,
                            summary={"source": str(self.options.sources), "gallery": str(self.gallery_path),
                                     "mode": "live"})

    def close(self, interrupted: bool, error: str | None = None) -> LiveResult:
        # per camera, "next_id" is the largest local id given and "next_frame" the next frame number: the next
        # session starts after both, so its ids and MOT rows never collide with this one's
        calibration = self.calibration()
        self.manifest["sessions"][-1].update(ended=time.time(), interrupted=interrupted, linking=calibration,
                                             **({"error": error} if error else {}))
        save_manifest(self.out, self.manifest)
        self.outputs.close()
        self.store.close()
        self.store.retire()
        report = self.write_report()
        for name in self.outputs.status:
            entry = self.outputs.status[name]
            if entry.get("state") in ("running", "starting", "ended", "complete") and error:
                entry.update(state="failed", error=error)  # the run stopped on an error, not at its end
            elif entry.get("state") in ("running", "starting"):
                entry["state"] = "interrupted" if interrupted else "ended"
        self.outputs.write_status(running=False)
        self.gallery.close()
        latency, since_seen = _stats(self.latencies), _stats(self.since_seen)
        return LiveResult(out=self.out, gallery=self.gallery_path, cameras=self.finished, failures=self.failures,
                          events=self.outputs.events, new_identities=len(self.new_ids),
                          known_identities=len(self.known_ids), latency=latency, since_seen=since_seen,
                          report_path=report,
                          interrupted=interrupted, threshold=self.linker.threshold, calibration=calibration)


def run_live(options: LiveOptions, config: LiveConfig | None = None, hooks: LiveHooks | None = None) -> LiveResult:
    """Run the cameras of ``options.sources`` live until every finite source has ended or ``hooks.stop`` is set
    (Ctrl-C and SIGTERM set it in the CLI). Returns the run's summary; see the module docstring."""
    from reid.engine import build_engine

    config = config or LiveConfig()
    hooks = hooks or LiveHooks()
    driver = _Driver(options, config, hooks)
    jobs = driver.prepare()
    stop = hooks.stop or threading.Event()
    engine = hooks.engine or (build_engine("local", workers=len(jobs), shared=_shared(config))
                              if config.engine.name == "local" else build_engine("ray", config=config.engine))
    previous = _on_sigusr1(driver) if hooks.report_request is None else None
    interrupted = False
    error: str | None = None
    try:
        engine.run(jobs, driver.on_message, stop)
        interrupted = stop.is_set()
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once, with what was recorded so far
        interrupted = True
        raise
    except BaseException as exc:  # the run stopped on an error: its status must not read like a normal end
        error = str(exc)[:300] or type(exc).__name__
        raise
    finally:
        _restore_sigusr1(previous)
        result = driver.close(interrupted, error)
        if hooks.engine is None and hasattr(engine, "shutdown"):
            engine.shutdown()
    if not result.cameras and result.failures:  # no camera could run at all: that is an error, not a run
        raise InputError("no camera of " + str(options.sources) + " could run: " +
                         "; ".join(f"{f.camera}: {f.message}" for f in result.failures))
    return result


def _stats(values: list[float]) -> LatencyStats:
    if not values:
        return LatencyStats()
    v = np.asarray(values, np.float64)
    return LatencyStats(len(v), float(np.percentile(v, 50)), float(np.percentile(v, 99)), float(v.max()))


def _refuse_if_running(manifest: dict[str, Any] | None, out: Path) -> None:
    """An output folder whose last live session has not ended and still runs is refused, before anything is
    written: two runs appending to one events.jsonl and one set of MOT files would interleave them."""
    from reid.live.outputs import session_alive

    sessions = (manifest or {}).get("sessions") or []
    last = sessions[-1] if sessions else None
    if isinstance(last, dict) and session_alive(last, out / "status.json"):
        raise OutputError(f"{out} is being written by another reid live (process {last.get('pid')} on "
                          f"{last.get('host')})", "stop that run first, or choose another --out")


def _shared(config: LiveConfig) -> bool:
    """Whether the cameras share one worker (batched calls): on a GPU, unless switched off."""
    if config.engine.shared != "auto":
        return config.engine.shared == "on"
    from reid.device import resolve_device

    return resolve_device(config.track.device).startswith("cuda")


def _on_sigusr1(driver: _Driver) -> Any:
    """SIGUSR1 asks for ``report.html`` now (written by the driver loop at its next message)."""
    if not hasattr(signal, "SIGUSR1") or threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: object) -> None:
        driver.report_requested = True

    return signal.signal(signal.SIGUSR1, handler)


def _restore_sigusr1(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGUSR1, previous)


def _rel(path: str, out: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(out))
    except ValueError:
        return str(path)


__all__ = ["LiveOptions", "LiveHooks", "LiveResult", "run_live", "LiveSource"]
