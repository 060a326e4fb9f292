"""Child processes die with their parent; worker counts are capped to the cores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reid.procs import available_cores, cap_workers

PARENT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, time
    from reid.procs import die_with_parent

    def child(path, use_watchdog_only):
        if use_watchdog_only:
            from reid import procs
            procs._start_watchdog(os.getppid())
        else:
            die_with_parent()
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        while True:
            time.sleep(0.1)

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        p = ctx.Process(target=child, args=(sys.argv[1], sys.argv[2] == "1"))
        p.start()
        while True:
            time.sleep(0.1)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


@pytest.mark.parametrize("watchdog_only", [False, True], ids=["pdeathsig", "watchdog"])
def test_child_exits_within_seconds_after_parent_is_killed(tmp_path: Path, watchdog_only: bool) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file), "1" if watchdog_only else "0"])
    try:
        deadline = time.time() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.time() < deadline, "child never started"
            assert parent.poll() is None, "parent died early"
            time.sleep(0.1)
        child = int(pid_file.read_text())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 10
        while _alive(child) and time.time() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "child outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_cap_workers_lowers_a_huge_count_and_says_so() -> None:
    n, note = cap_workers(100_000, what="--workers")
    assert n == available_cores()
    assert note is not None and "100000" in note and "--workers" in note


def test_cap_workers_keeps_a_count_within_the_cores() -> None:
    assert cap_workers(1) == (1, None)
    assert cap_workers(0) == (0, None)
    assert cap_workers(5, limit=3) == (3, cap_workers(5, limit=3)[1])
