"""The Ray engine: camera workers as Ray tasks (finished files) and actors (live streams) on a cluster.

Past one machine the same commands run on Ray (``--engine ray``, the ``ray`` extra). What crosses to the
cluster is a :class:`~reid.engine.messages.CameraJob`; what comes back are the same messages as from the local
engine, so the driver — the one owner of identities, the gallery and the output folder — cannot tell which
engine ran the cameras.

- Batch (``reid track CAMERAS_DIR``): each camera is a task with ``engine.num_cpus_per_camera`` CPUs and
  ``engine.num_gpus_per_camera`` GPUs, retried ``engine.max_retries`` times if its worker dies. A task works in
  a scratch folder of its own node and returns, through Ray's object store, its messages and the files of its
  camera's working folder (local-id MOT file, crops); the driver writes those into ``--out``. Workers therefore
  never need the driver's disk.
- Live (``reid live``): one actor per camera stream, restarted by Ray when it dies (``max_restarts``), its
  ``run`` call retried on the new actor, which reconnects to its stream. Messages travel through a Ray queue to
  the driver as they happen; crops travel inside the events as JPEG bytes.
- Progress: the tasks and actors put their progress messages on the same queue, so the driver's progress bars
  are fed as with the local engine.

Why the linker is not an actor: it must be the one writer of the gallery and of the output files, which live
on the driver's machine; a linker actor would be placed there anyway and only add a hop per event.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reid.engine.messages import (
    CameraFailed,
    CameraFinished,
    CameraJob,
    CameraProgress,
    CameraStatus,
    TrackletEvent,
)
from reid.errors import ConfigError


def import_ray() -> Any:
    """``ray``, or a clear line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--engine ray needs Ray, which is not installed",
                          'pip install "reid[ray]" (or pip install ray), or use --engine local') from None
    return ray


@dataclass
class CameraOutput:
    """What a batch task returns: its messages, and the files of its camera's working folder (relative path ->
    bytes), which the driver writes into ``--out``."""

    messages: list[Any]
    files: dict[str, bytes] = field(default_factory=dict)


class RayEngine:
    """Run camera jobs on a Ray cluster (``address``: ``RAY_ADDRESS``, else a local Ray started for the run)."""

    name = "ray"

    def __init__(self, config: Any = None, address: str | None = None, num_cpus: int | None = None,
                 grace: float = 30.0) -> None:
        from reid.engine.config import EngineConfig

        self.config = config or EngineConfig(name="ray")
        self.address = address or self.config.address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus = num_cpus
        self.grace = grace
        self.started_here = False

    # -- the cluster -------------------------------------------------------------------------------------

    def connect(self) -> Any:
        ray = import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR",
                                      "log_to_driver": False, "configure_logging": True}
            if self.address:
                _check_address(self.address)
                kwargs["address"] = self.address
            else:
                kwargs["num_cpus"] = self.num_cpus
                self.started_here = True
            try:
                ray.init(**kwargs)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ConfigError(f"cannot connect to the Ray cluster at {self.address}: {exc}",
                                  "check --ray-address / RAY_ADDRESS, or leave it out for a local Ray") from exc
        return ray

    def shutdown(self) -> None:
        if self.started_here:
            import_ray().shutdown()
            self.started_here = False

    # -- running -----------------------------------------------------------------------------------------

    def run(self, jobs: list[CameraJob], on_message: Any, stop: threading.Event | None = None) -> None:
        """Run ``jobs`` on the cluster and hand every message to ``on_message`` in arrival order."""
        if not jobs:
            return
        ray = self.connect()
        from ray.util.queue import Queue

        stop = stop or threading.Event()
        queue = Queue(actor_options={"num_cpus": 0})
        try:
            if all(j.mode == "live" for j in jobs):
                self._run_live(ray, jobs, queue, on_message, stop)
            else:
                self._run_batch(ray, jobs, queue, on_message, stop)
        finally:
            ray.kill(queue.actor)

    def _resources(self) -> dict[str, Any]:
        return {"num_cpus": self.config.num_cpus_per_camera, "num_gpus": self.config.num_gpus_per_camera}

    def _run_batch(self, ray: Any, jobs: list[CameraJob], queue: Any, on_message: Any,
                   stop: threading.Event) -> None:
        task = ray.remote(_batch_task).options(max_retries=self.config.max_retries, retry_exceptions=False,
                                               **self._resources())
        threads = max(1, int(self.config.num_cpus_per_camera))
        backlog = [replace(j, threads=j.threads or threads) for j in jobs]
        slots = self._slots(ray)
        pending: dict[Any, CameraJob] = {}
        while pending or backlog:
            # as many tasks in flight as the cluster can run at once: a task queued behind busy slots makes
            # Ray start a fresh worker process for it (seconds of imports and model loading) instead of
            # reusing the one that is about to become idle
            while backlog and len(pending) < slots:
                job = backlog.pop(0)
                pending[task.remote(job, queue)] = job
            if stop.is_set():
                for ref in pending:
                    ray.cancel(ref, force=True)
                break
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
            _drain(queue, on_message)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    output: CameraOutput = ray.get(ref)
                except Exception as exc:  # a task that failed every retry (its worker died each time)
                    on_message(CameraFailed(job.camera, "crash", f"the camera task failed on the cluster: "
                                                                 f"{type(exc).__name__}: {_first_line(exc)}"))
                    continue
                _write_files(Path(job.work_dir), output.files)
                for message in output.messages:
                    on_message(message)
        _drain(queue, on_message)

    def _slots(self, ray: Any) -> int:
        """How many camera tasks the cluster runs at once, from its resources and the per-camera reservation."""
        total = ray.cluster_resources()
        slots = int(total.get("CPU", 0) // self.config.num_cpus_per_camera) if self.config.num_cpus_per_camera else 0
        if self.config.num_gpus_per_camera:
            slots = min(slots, int(total.get("GPU", 0) // self.config.num_gpus_per_camera))
        return max(1, slots)

    def _run_live(self, ray: Any, jobs: list[CameraJob], queue: Any, on_message: Any,
                  stop: threading.Event) -> None:
        actor_cls = ray.remote(LiveCameraActor).options(
            max_restarts=self.config.max_retries, max_task_retries=self.config.max_retries, max_concurrency=2,
            **self._resources())
        actors = {j.camera: actor_cls.remote() for j in jobs}
        runs = {actors[j.camera].run.remote(replace(j, ship_outputs=True), queue): j.camera for j in jobs}
        open_cameras = set(actors)
        deadline: float | None = None
        while open_cameras:
            if stop.is_set() and deadline is None:
                for actor in actors.values():
                    actor.stop.remote()
                deadline = time.monotonic() + self.grace
            if deadline is not None and time.monotonic() > deadline:
                break
            ready, _ = ray.wait(list(runs), num_returns=len(runs), timeout=0.2)
            for message in _drain(queue, on_message):
                if isinstance(message, CameraFinished | CameraFailed):
                    open_cameras.discard(message.camera)
            for ref in ready:
                camera = runs.pop(ref)
                try:
                    ray.get(ref)
                except Exception as exc:  # the actor died more often than it may be restarted
                    if camera in open_cameras:
                        open_cameras.discard(camera)
                        on_message(CameraFailed(camera, "crash", f"the camera actor failed: {_first_line(exc)}"))
        _drain(queue, on_message)
        for actor in actors.values():
            ray.kill(actor)


# -- what runs on the cluster ------------------------------------------------------------------------------


def _batch_task(job: CameraJob, queue: Any) -> CameraOutput:
    """One camera of a folder, tracked in a scratch folder of this node; its files go back with the result."""
    from reid.engine.worker import run_job
    from reid.outputs import OutputFolder

    messages: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="reid-camera-") as scratch:
        root = Path(scratch)
        work = root / "work"
        OutputFolder.prepare(root)
        local = replace(job, out_dir=str(root), work_dir=str(work))

        def emit(message: Any) -> None:
            if isinstance(message, CameraProgress):
                _put(queue, message)
            else:
                messages.append(_rebase(message, work, Path(job.work_dir)))

        run_job(local, emit, embedder=_cached_embedder(job.config))
        files = {str(p.relative_to(work)): p.read_bytes() for p in sorted(work.rglob("*"))
                 if p.is_file() and not p.name.startswith(".")}
    return CameraOutput(messages, files)


_EMBEDDER: dict[tuple, Any] = {}  # this worker process's re-ID network, kept for the next camera task


def _cached_embedder(config: Any) -> Any:
    """The re-ID network of ``config``, loaded once per worker process: Ray reuses a worker for the next camera
    task, and loading (with the ONNX session) costs about as much as tracking a short camera. The key holds the
    checkpoint's size and time, so a file replaced between runs is loaded again."""
    from reid.video.pipeline import load_embedder

    if not config.embed:
        return None
    try:
        stat = os.stat(config.reid_weights) if config.reid_weights else None
    except OSError:
        stat = None  # load_embedder names the missing file
    key = (config.reid_weights, stat.st_size if stat else None, stat.st_mtime_ns if stat else None,
           config.reid_arch, config.device, config.embed_batch_size)
    if key not in _EMBEDDER:
        _EMBEDDER.clear()
        _EMBEDDER[key] = load_embedder(config)
    return _EMBEDDER[key]


class LiveCameraActor:
    """One live camera on the cluster; :meth:`run` reads until the stream ends or :meth:`stop` is called."""

    def __init__(self) -> None:
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self, job: CameraJob, queue: Any) -> None:
        import uuid

        from reid.engine.worker import run_job
        from reid.outputs import OutputFolder

        token = uuid.uuid4().hex[:12]  # a restarted actor's local ids are told apart by the driver
        with tempfile.TemporaryDirectory(prefix="reid-live-") as scratch:
            OutputFolder.prepare(scratch)
            local = replace(job, out_dir=scratch, work_dir=str(Path(scratch) / "crops" / job.camera))

            def emit(message: Any) -> None:
                if isinstance(message, TrackletEvent):
                    message = replace(message, worker=token)
                _put(queue, message)

            run_job(local, emit, self._stop)


def _check_address(address: str) -> None:
    """A cluster address that cannot be reached is one clear line at once (``ray.init`` would wait minutes)."""
    import socket
    from urllib.parse import urlsplit

    if address == "auto":
        return
    text = address if "://" in address else f"ray://{address}"
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ConfigError(f"--ray-address {address!r} is not HOST:PORT", "e.g. --ray-address 10.0.0.2:6379")
    if address.startswith("ray://"):
        try:
            import ray.util.client  # noqa: F401 - Ray Client needs the ray[client] extra
        except ImportError:
            raise ConfigError("a ray:// address needs Ray Client", 'pip install "ray[client]"') from None
    try:
        with socket.create_connection((host, port), timeout=3.0):
            pass
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}",
                          "check --ray-address / RAY_ADDRESS (the head's GCS port, 6379 by default)") from exc


def _put(queue: Any, message: Any) -> None:
    queue.put(message)


def _drain(queue: Any, on_message: Any) -> list[Any]:
    got = []
    while True:
        try:
            items = queue.get_nowait_batch(min(256, max(1, queue.qsize())))
        except Exception:
            break
        if not items:
            break
        for message in items:
            got.append(message)
            on_message(message)
        if len(items) < 256:
            break
    return got


def _rebase(message: Any, scratch: Path, work_dir: Path) -> Any:
    """Crop paths of a scratch folder, as they will be in the camera's working folder of ``--out``."""
    if isinstance(message, TrackletEvent):
        crops = [str(work_dir / Path(p).relative_to(scratch)) if Path(p).is_relative_to(scratch) else p
                 for p in message.crops]
        return replace(message, crops=crops)
    if isinstance(message, CameraFinished):
        return message
    return message


def _write_files(work_dir: Path, files: dict[str, bytes]) -> None:
    """The camera's working files, written by the driver into ``--out`` (through its ledger)."""
    from reid.io import atomic_write
    from reid.outputs import remove_tree

    remove_tree(work_dir)
    for rel, data in files.items():
        with atomic_write(work_dir / rel, "wb") as handle:
            handle.write(data)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


__all__ = ["RayEngine", "import_ray", "CameraOutput", "CameraStatus"]


# -- embedding a dataset on the cluster --------------------------------------------------------------------


class EmbedActor:
    """Loads the network once and embeds chunks of records (Ray's callable-class pattern for batch inference)."""

    def __init__(self, weights: str, device: str, batch_size: int) -> None:
        from reid.models.inference import CropEmbedder

        self.embedder = CropEmbedder.from_checkpoint(weights, device=device, batch_size=batch_size, flag="--reid-weights")
        self.batch_size = batch_size

    def embed(self, records: list[Any]) -> Any:
        from reid.models.inference import embed_records

        return embed_records(records, self.embedder, batch_size=self.batch_size, num_workers=0)


def embed_records_on_ray(records: list[Any], weights: str, device: str = "auto", batch_size: int = 128,
                         config: Any = None, progress: Any = None, chunk: int = 1024) -> Any:
    """Embeddings (N, D) of ``records``, in their order, computed by a pool of actors on the Ray cluster.

    Each actor loads the network once (``engine.num_cpus_per_camera`` CPUs and ``engine.num_gpus_per_camera``
    GPUs each; as many actors as the cluster has room for) and embeds chunks of ``chunk`` images. The images
    must be readable at the same paths on every node (shared storage), as the checkpoint must.
    """
    import numpy as np

    engine = RayEngine(config)
    ray = engine.connect()
    try:
        from ray.util import ActorPool

        cfg = engine.config
        cpus = float(ray.cluster_resources().get("CPU", 1))
        gpus = float(ray.cluster_resources().get("GPU", 0))
        room = [cpus / max(cfg.num_cpus_per_camera, 1e-6)]
        if cfg.num_gpus_per_camera > 0:
            room.append(gpus / cfg.num_gpus_per_camera)
        chunks = [records[i:i + chunk] for i in range(0, len(records), chunk)]
        n = max(1, min(int(min(room)), len(chunks)))
        actor = ray.remote(EmbedActor).options(num_cpus=cfg.num_cpus_per_camera, num_gpus=cfg.num_gpus_per_camera)
        pool = ActorPool([actor.remote(str(weights), device, batch_size) for _ in range(n)])
        parts, done = [], 0
        for part in pool.map(lambda a, c: a.embed.remote(c), chunks):
            parts.append(part)
            done += len(part)
            if progress is not None:
                progress(done, len(records))
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, 0), np.float32)
    finally:
        engine.shutdown()
