"""Crash-safe file writing and output-folder checks shared by every stage.

A write that must survive a crash goes to a temporary file in the same folder and is moved into place with
``os.replace``, which is atomic on POSIX and Windows: a reader sees either the old file or the new one,
never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from reid.errors import OutputError

_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                 errno.EISDIR, errno.ENOTDIR, errno.EBUSY, errno.EEXIST, errno.ENOENT}


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success move it over ``path``, on error delete it.

    Inside an output folder (:mod:`reid.outputs`) the path is claimed first: it must lie below the folder, not
    go through a symbolic link, and not replace a file this project did not write. A full disk, a read-only
    folder or a permission error becomes an :class:`OutputError` naming the file (and the free space).
    """
    from reid.outputs import claim, output_error

    path = claim(path)
    binary = "b" in mode
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600 files; give the result the permissions a plain open() would (0666 & ~umask).
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except OSError as exc:
        _discard(tmp)
        if exc.errno in _WRITE_ERRNOS:
            raise output_error(exc, path) from exc
        raise
    except BaseException:
        _discard(tmp)
        raise


def _discard(tmp: str | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


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


def prepare_output_dir(path: str | os.PathLike[str], overwrite: bool = False, flag: str = "--overwrite", *,
                       inputs: Iterable[Any] = (), owned: Iterable[str] = (), resume: bool = False) -> Path:
    """Create ``path`` for a fresh output, refusing a non-empty folder unless ``overwrite`` is set.

    Refusing protects earlier results: a second run into the same folder would otherwise mix its files
    with the first run's and produce output that looks complete but is not. With ``overwrite`` only what this
    project wrote there is deleted (:class:`reid.outputs.OutputFolder`); an output folder that contains one of
    ``inputs`` or lies inside one is refused before anything is written or deleted. Returns the resolved folder.
    """
    from reid.outputs import OutputFolder

    return OutputFolder.prepare(path, overwrite, inputs=inputs, owned=owned, resume=resume, flag=flag).root


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


def write_image(path: str | os.PathLike[str], image: Any, quality: int = 95) -> Path:
    """Encode ``image`` (BGR uint8) by the path's suffix and write it atomically (a crop, a frame)."""
    import cv2

    path = Path(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(path.suffix or ".jpg", image, params)
    if not ok:
        raise OutputError(f"cannot encode the image {path}")
    with atomic_write(path, "wb") as handle:
        handle.write(data.tobytes())
    return path


def open_for_writing(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> IO[Any]:
    """Open ``path`` for writing in place (a spool that grows while a video is read, an append-only log).

    The path is claimed in its output folder like :func:`atomic_write`, and a symbolic link in its place is
    never followed (``O_NOFOLLOW``). OS failures become an :class:`OutputError` naming the file.
    """
    from reid.outputs import claim, output_error

    path = claim(path)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_APPEND if "a" in mode else os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o666)
        return os.fdopen(fd, mode, encoding=None if "b" in mode else encoding)
    except OSError as exc:
        raise output_error(exc, path) from exc


def count_video_frames(path: str | os.PathLike[str]) -> int:
    """Frames a written video holds according to its container (0 when it cannot be opened).

    OpenCV's ``VideoWriter`` does not report failed writes, so a writer checks this before moving a video
    under its final name: a full disk gives a short or unreadable file, never one that looks complete.
    """
    import cv2

    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return 0
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    finally:
        cap.release()
