"""Crash-safe file writing and output-folder checks shared by every stage.

A write that must survive a crash goes to a temporary file in the same folder and is moved into place with
``os.replace``, which is atomic on POSIX and Windows: a reader sees either the old file or the new one,
never half of one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from reid.errors import OutputError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success move it over ``path``, on error delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the result the permissions a plain open() would (0666 & ~umask).
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which is not safe while other threads write.
_UMASK = _read_umask()


def _current_umask() -> int:
    return _UMASK


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    with atomic_write(path, "w") as handle:
        json.dump(obj, handle, indent=indent)
        handle.write("\n")


def atomic_save_torch(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` through a temporary file, so a crash never leaves a truncated checkpoint."""
    import torch

    with atomic_write(path, "wb") as handle:
        torch.save(obj, handle)


def prepare_output_dir(path: str | os.PathLike[str], overwrite: bool = False, flag: str = "--overwrite") -> Path:
    """Create ``path`` for a fresh output, refusing a non-empty folder unless ``overwrite`` is set.

    Refusing protects earlier results: a second run into the same folder would otherwise mix its files
    with the first run's and produce output that looks complete but is not.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"output path {path} exists and is not a folder", "choose another --out")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OutputError(f"output folder {path} exists and is not empty", f"pass {flag} or choose another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".reid-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write to output folder {path}: {exc.strerror or exc}", "choose another --out") from exc
    return path


def require_file(path: str | os.PathLike[str], what: str = "file", flag: str | None = None) -> Path:
    """Return ``path`` as a Path if it is an existing file, else raise a clear :class:`InputError`."""
    from reid.errors import InputError

    path = Path(path)
    if not path.is_file():
        hint = f"check {flag}" if flag else None
        if path.is_dir():
            raise InputError(f"{what} {path} is a folder, expected a file", hint)
        raise InputError(f"{what} {path} does not exist", hint)
    return path
