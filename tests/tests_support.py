"""Helpers for tests that need an unlucky machine: a tiny (full) disk or a read-only one.

Both are a small tmpfs mounted for the test. That needs root (CI and the test machines run as root) or a
user namespace; where neither is available the test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "256k", read_only: bool = False) -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` for the block (read-only when asked), then unmount it."""
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def as_nobody() -> list[str]:
    """A command prefix that runs a program as the unprivileged user ``nobody`` (skips when impossible)."""
    import os

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run as another user")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
