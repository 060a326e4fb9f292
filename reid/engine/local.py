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
                 grace: float = 15.0) -> None:
        self.workers = workers
        self.in_process = in_process or embedder is not None
        self.embedder = embedder
        self.grace = grace

    def run(self, jobs: list[CameraJob], on_message: OnMessage, stop: threading.Event | None = None) -> None:
        """Run ``jobs`` and hand every message to ``on_message`` (in this thread, in arrival order).

        Returns when every camera has finished or failed. When ``stop`` is set (or this thread is interrupted),
        the workers are told to stop, get ``grace`` seconds to close their cameras, and are then killed.
        """
        if not jobs:
            return
        stop = stop or threading.Event()
        n = min(self.workers or min(len(jobs), available_cores()), len(jobs))
        if self.in_process or n <= 1 and all(j.mode == "batch" for j in jobs):
            self._run_here(jobs, on_message, stop)
        else:
            self._run_processes(jobs, on_message, stop, max(1, n))

    # -- in this process ---------------------------------------------------------------------------------

    def _run_here(self, jobs: list[CameraJob], on_message: OnMessage, stop: threading.Event) -> None:
        from reid.engine.worker import run_job

        for job in jobs:
            if stop.is_set():
                break
            run_job(job, on_message, stop, embedder=self.embedder)

    # -- in worker processes -----------------------------------------------------------------------------

    def _run_processes(self, jobs: list[CameraJob], on_message: OnMessage, stop: threading.Event,
                       n: int) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        job_queue = ctx.Queue()
        messages = ctx.Queue()
        stop_flag = ctx.Event()
        threads = max(1, available_cores() // n)
        for job in jobs:
            job_queue.put(job if job.threads else _with_threads(job, threads))
        for _ in range(n):
            job_queue.put(None)
        procs = [ctx.Process(target=_worker_main, args=(job_queue, messages, stop_flag, os.getpid()),
                             name=f"reid-camera-worker-{i}", daemon=True) for i in range(n)]
        for proc in procs:
            proc.start()
        open_cameras = {j.camera for j in jobs}
        running: dict[int, str] = {}  # worker pid -> camera it is running
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
                    running[message.pid] = message.camera
                    continue
                if isinstance(message, CameraFinished | CameraFailed):
                    open_cameras.discard(message.camera)
                    running = {pid: cam for pid, cam in running.items() if cam != message.camera}
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
    def _reap(procs: list[Any], running: dict[int, str], open_cameras: set[str], on_message: OnMessage) -> None:
        """Report the camera of a worker that died in the middle of it."""
        for proc in procs:
            if proc.exitcode not in (None, 0) and proc.pid in running:
                camera = running.pop(proc.pid)
                if camera in open_cameras:
                    open_cameras.discard(camera)
                    on_message(CameraFailed(camera, "crash", f"the camera worker process died (exit code "
                                                             f"{proc.exitcode})"))


def _with_threads(job: CameraJob, threads: int) -> CameraJob:
    from dataclasses import replace

    return replace(job, threads=threads)


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
    """A worker process: die with the parent, leave Ctrl-C to it, and run jobs until told there are none."""
    import signal

    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from reid.engine.worker import run_job

    while not stop_flag.is_set():
        job = job_queue.get()
        if job is None:
            break
        messages.put(_Started(job.camera, os.getpid()))
        run_job(job, messages.put, stop_flag)
    messages.close()
    messages.join_thread()
