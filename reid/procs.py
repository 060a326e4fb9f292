"""Child processes that die with their parent, and worker counts capped to what the machine has.

Every process this project starts (camera workers, DataLoader workers, decoding workers) calls
:func:`die_with_parent` first. A worker that outlives a killed main process keeps its memory (about a GB for a
camera worker with its networks) and keeps writing into the output folder, which then looks like a run that is
still going. On Linux the kernel delivers SIGKILL to the child the moment its parent dies
(``PR_SET_PDEATHSIG``); elsewhere a daemon thread notices that the parent changed and exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_PARENT_ENV = "REID_PARENT_PID"


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's total)."""
    if hasattr(os, "sched_getaffinity"):
        with contextlib.suppress(OSError):
            return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def cap_workers(requested: int, limit: int | None = None, what: str = "workers") -> tuple[int, str | None]:
    """``requested`` worker processes capped to ``limit`` (default: the cores this process may use).

    Returns the count to start and a note for the user when it was lowered (``None`` otherwise). Starting more
    processes than cores only adds memory and context switches; starting 100,000 would take the machine down.
    """
    limit = available_cores() if limit is None else max(1, int(limit))
    requested = int(requested)
    if requested <= limit:
        return max(0, requested), None
    return limit, f"{what} {requested} capped to {limit} (the CPU cores available to this process)"


def die_with_parent(parent_pid: int | None = None) -> None:
    """Make the calling process exit as soon as its parent process dies.

    ``parent_pid`` is the process that must be alive (default: the current parent, or the pid the parent put
    in ``REID_PARENT_PID``). If it is already gone when this runs, the process exits at once: the parent may
    have died between starting the child and this call.
    """
    expected = parent_pid or _expected_parent()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != expected:
        os._exit(1)
    _start_watchdog(expected)


def parent_env() -> dict[str, str]:
    """Environment entries that tell a child started through a launcher (torchrun) which pid to watch."""
    return {_PARENT_ENV: str(os.getpid())}


def _expected_parent() -> int:
    value = os.environ.get(_PARENT_ENV, "")
    if value.isdigit() and int(value) == os.getppid():
        return int(value)
    return os.getppid()


_watchdog_started = False


def _forget_watchdog() -> None:
    """In a forked child the parent's watchdog thread does not exist: let the child start its own."""
    global _watchdog_started
    _watchdog_started = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_watchdog)


def _start_watchdog(expected: int) -> None:
    """A daemon thread that exits the process when the parent changes.

    This also covers what ``PR_SET_PDEATHSIG`` does not: the signal is tied to the parent *thread* that created
    the child, and it does not exist outside Linux.
    """
    global _watchdog_started
    if _watchdog_started:
        return
    _watchdog_started = True

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != expected:
                os._exit(1)

    threading.Thread(target=watch, name="reid-parent-watchdog", daemon=True).start()


def worker_init(*_args: object) -> None:
    """``worker_init_fn`` / ``initializer`` for pools: die with the parent (extra arguments are ignored)."""
    die_with_parent()
