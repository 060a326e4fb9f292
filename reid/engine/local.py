"""The local engine: camera workers as processes of this machine (or in this process), messages through a queue.

Workers are spawned interpreters (safe with torch's thread pools). Each one dies with this process, kill -9
included (:func:`reid.procs.die_with_parent`), ignores Ctrl-C (the driver decides when to stop and tells them
through an event, so that live cameras can close their tracks cleanly), and takes jobs from a queue until
there are none left. A worker that dies in the middle of a camera is reported as a :class:`CameraFailed` of
kind ``crash`` for that camera; the others go on.

With ``in_process`` (one worker, or a network already loaded by the caller) the jobs run one after another in
the calling thread and messages are delivered as they are emitted.
"""

from __future__ import annotations

import os
import queue as queue_mod
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reid.engine.messages import CameraFailed, CameraFinished, CameraJob
from reid.procs import available_cores, die_with_parent

OnMessage = Callable[[Any], None]


@dataclass
class _Started:
    """Internal: worker ``pid`` took the job of ``camera`` (so a crash can be blamed on the right camera)."""

    camera: str
    pid: int


class LocalEngine:
    """Run camera jobs on this machine: ``workers`` processes (default: one per job up to the cores)."""

    name = "local"

    def __init__(self, workers: int | None = None, in_process: bool = False, embedder: Any = None,
                 grace: float = 15.0, shared: bool = False) -> None:
        self.workers = workers
        self.in_process = in_process or embedder is not None
        self.embedder = embedder
        self.grace = grace
        # live cameras in one worker with batched detector calls (a GPU's way: reid.live.shared)
        self.shared = shared

    def run(self, jobs: list[CameraJob], on_message: OnMessage, stop: threading.Event | None = None) -> None:
        """Run ``jobs`` and hand every message to ``on_message`` (in this thread, in arrival order).

        Returns when every camera has finished or failed. When ``stop`` is set (or this thread is interrupted),
        the workers are told to stop, get ``grace`` seconds to close their cameras, and are then killed.
        """
        if not jobs:
            return
        stop = stop or threading.Event()
        live = all(j.mode == "live" for j in jobs)
        if self.shared and live:
            groups: list[CameraJob | list[CameraJob]] = [list(jobs)]
        else:
            groups = list(jobs)
        n = min(self.workers or min(len(groups), available_cores()), len(groups))
        if self.in_process or (n <= 1 and not live):
            self._run_here(groups, on_message, stop)
        else:
            self._run_processes(groups, on_message, stop, max(1, n))

    # -- in this process ---------------------------------------------------------------------------------

    def _run_here(self, groups: list[Any], on_message: OnMessage, stop: threading.Event) -> None:
        for group in groups:
            if stop.is_set():
                break
            _run_group(group, on_message, stop, self.embedder)

    # -- in worker processes -----------------------------------------------------------------------------

    def _run_processes(self, groups: list[Any], on_message: OnMessage, stop: threading.Event,
                       n: int) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        job_queue = ctx.Queue()
        messages = ctx.Queue()
        stop_flag = ctx.Event()
        threads = max(1, available_cores() // n)
        for group in groups:
            job_queue.put([_with_threads(j, threads) for j in group] if isinstance(group, list) else
                          _with_threads(group, threads))
        for _ in range(n):
            job_queue.put(None)
        procs = [ctx.Process(target=_worker_main, args=(job_queue, messages, stop_flag, os.getpid()),
                             name=f"reid-camera-worker-{i}", daemon=True) for i in range(n)]
        for proc in procs:
            proc.start()
        open_cameras = {j.camera for g in groups for j in (g if isinstance(g, list) else [g])}
        running: dict[int, set[str]] = {}  # worker pid -> cameras it is running
        stop_deadline: float | None = None
        try:
            while open_cameras:
                if stop.is_set() and stop_deadline is None:
                    stop_flag.set()
                    stop_deadline = time.monotonic() + self.grace
                if stop_deadline is not None and time.monotonic() > stop_deadline:
                    break
                try:
                    message = messages.get(timeout=0.2)
                except queue_mod.Empty:
                    self._reap(procs, running, open_cameras, on_message)
                    if not any(p.is_alive() for p in procs) and messages.empty():
                        for camera in sorted(open_cameras):  # a job nobody ran: every worker died first
                            on_message(CameraFailed(camera, "crash", "the camera worker process died"))
                        break
                    continue
                if isinstance(message, _Started):
                    running.setdefault(message.pid, set()).add(message.camera)
                    continue
                if isinstance(message, CameraFinished | CameraFailed):
                    open_cameras.discard(message.camera)
                    for cams in running.values():
                        cams.discard(message.camera)
                on_message(message)
        except BaseException:
            stop_flag.set()
            raise
        finally:
            _shut_down(procs, stop_flag, grace=2.0 if stop_deadline is None else 0.5)
            for q in (job_queue, messages):
                q.cancel_join_thread()
                q.close()

    @staticmethod
    def _reap(procs: list[Any], running: dict[int, set[str]], open_cameras: set[str],
              on_message: OnMessage) -> None:
        """Report the cameras of a worker that died in the middle of them."""
        for proc in procs:
            if proc.exitcode not in (None, 0) and proc.pid in running:
                for camera in sorted(running.pop(proc.pid)):
                    if camera in open_cameras:
                        open_cameras.discard(camera)
                        on_message(CameraFailed(camera, "crash", f"the camera worker process died (exit code "
                                                                 f"{proc.exitcode})"))


def _with_threads(job: CameraJob, threads: int) -> CameraJob:
    from dataclasses import replace

    return job if job.threads else replace(job, threads=threads)


def _run_group(group: CameraJob | list[CameraJob], emit: OnMessage, stop: Any, embedder: Any = None) -> None:
    """One job, or a list of live jobs that share this process (:func:`reid.live.shared.run_shared_live`)."""
    from reid.engine.worker import run_job

    if not isinstance(group, list):
        run_job(group, emit, stop, embedder=embedder)
        return
    from reid.errors import ReidError
    from reid.live.shared import run_shared_live
    from reid.outputs import OutputFolder

    try:
        OutputFolder.attach(group[0].out_dir)
        run_shared_live(group, emit, stop, embedder)
    except ReidError as exc:
        for job in group:
            emit(CameraFailed(job.camera, type(exc).__name__, exc.message, exc.hint))


def _shut_down(procs: list[Any], stop_flag: Any, grace: float) -> None:
    """Ask the workers to stop, wait ``grace`` seconds, then kill what is left: none outlives the run."""
    stop_flag.set()
    deadline = time.monotonic() + grace
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join(5)


def _worker_main(job_queue: Any, messages: Any, stop_flag: Any, parent: int) -> None:
    """A worker process: die with the parent, leave Ctrl-C and SIGTERM to it, and run jobs until told there are
    none. (``timeout``, ``kill -- -PGID`` and a service manager signal the whole process group: the driver
    stops its workers itself, through ``stop_flag`` and then SIGKILL, so one signal makes one clean stop.)"""
    import signal

    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while not stop_flag.is_set():
        group = job_queue.get()
        if group is None:
            break
        for job in group if isinstance(group, list) else [group]:
            messages.put(_Started(job.camera, os.getpid()))
        _run_group(group, messages.put, stop_flag)
    messages.close()
    messages.join_thread()
