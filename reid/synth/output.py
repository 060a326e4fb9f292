"""Output-folder handling shared by the synthetic writers.

A writer owns a few names inside its output folder (``image/``, ``train_test_split/``, ...). With
``overwrite`` those are removed first, so a smaller second run never leaves stale images from a larger first
one next to lists that do not mention them; anything else in the folder is left alone. Index files (lists,
ground truth, ``cameras.yaml``) are written last and atomically: an interrupted run leaves no lists, so it
can never be mistaken for a complete dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reid.errors import InputError
from reid.io import prepare_output_dir

ProgressCallback = Callable[..., None]


def prepare_owned_dir(out: str | Path, overwrite: bool, owned: Iterable[str]) -> Path:
    """Prepare ``out`` (:func:`reid.io.prepare_output_dir`): with ``overwrite`` the files an earlier run wrote
    are removed (per the folder's ledger), and an ``owned`` name that exists but was not written by reid is
    refused, so a user's own ``image/`` folder is never deleted or mixed with generated images."""
    return prepare_output_dir(out, overwrite, owned=tuple(owned))


def make_dir(path: Path) -> Path:
    """Create a folder inside the output folder, recorded as ours (so ``--overwrite`` may remove it)."""
    from reid.outputs import folder_for

    folder = folder_for(path)
    if folder is None:
        path.mkdir(parents=True, exist_ok=True)
        return path
    return folder.make_dirs(path)


def write_bytes(path: Path, data: bytes) -> None:
    """Write one generated file, turning OS errors (disk full, permissions) into an :class:`OutputError`."""
    from reid.io import open_for_writing

    with open_for_writing(path, "wb") as handle:
        try:
            handle.write(data)
        except OSError as exc:
            from reid.outputs import output_error

            raise output_error(exc, path) from exc


def check_positive(name: str, value: Any, flag: str, minimum: int | float = 1) -> None:
    """Reject a count or size below ``minimum`` with a message naming the flag."""
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value}", f"fix {flag}")


def report(progress: ProgressCallback | None, done: int, total: int, **info: Any) -> None:
    if progress is not None:
        progress(done, total, **info)
