"""Output-folder handling shared by the synthetic writers.

A writer owns a few names inside its output folder (``image/``, ``train_test_split/``, ...). With
``overwrite`` those are removed first, so a smaller second run never leaves stale images from a larger first
one next to lists that do not mention them; anything else in the folder is left alone. Index files (lists,
ground truth, ``cameras.yaml``) are written last and atomically: an interrupted run leaves no lists, so it
can never be mistaken for a complete dataset.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reid.errors import InputError, OutputError
from reid.io import prepare_output_dir

ProgressCallback = Callable[..., None]


def prepare_owned_dir(out: str | Path, overwrite: bool, owned: Iterable[str]) -> Path:
    """Check ``out`` with :func:`reid.io.prepare_output_dir`, then clear the entries this writer owns."""
    root = prepare_output_dir(out, overwrite)
    for name in owned:
        target = root / name
        try:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
        except OSError as exc:
            raise OutputError(f"cannot clear {target} before overwriting: {exc.strerror or exc}",
                              "remove it by hand or choose another --out") from exc
    return root


def write_bytes(path: Path, data: bytes) -> None:
    """Write one generated file, turning OS errors (disk full, permissions) into an :class:`OutputError`."""
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}", "check free space and permissions of --out") from exc


def check_positive(name: str, value: Any, flag: str, minimum: int | float = 1) -> None:
    """Reject a count or size below ``minimum`` with a message naming the flag."""
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value}", f"fix {flag}")


def report(progress: ProgressCallback | None, done: int, total: int, **info: Any) -> None:
    if progress is not None:
        progress(done, total, **info)
