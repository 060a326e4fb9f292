"""Pieces shared by the dataset readers: the record list they return and the checks they all make.

Every reader returns a :class:`RecordList`, a plain ``list`` of :class:`~reid.types.ImageRecord` with one extra
attribute, ``missing``: the paths that the list file named but that are not on disk. By default a missing image
is a :class:`~reid.errors.DatasetError` (an evaluation on a silently shrunk test list would report numbers that
cannot be compared with anyone else's); with ``skip_missing=True`` the reader drops those images and the caller
reads ``len(records.missing)`` to report how many were skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from reid.errors import DatasetError
from reid.types import ImageRecord

#: File name endings accepted as images by the folder reader (compared in lower case).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class RecordList(list):
    """A list of :class:`ImageRecord` that also remembers the listed images skipped because they were missing."""

    def __init__(self, records: Iterable[ImageRecord] = (), missing: Iterable[str] = ()) -> None:
        super().__init__(records)
        self.missing: list[str] = list(missing)


def require_dir(path: Path, what: str, hint: str | None = None) -> Path:
    """``path`` if it is a folder, else a DatasetError naming the folder that was expected."""
    if not path.is_dir():
        state = "is a file, not a folder" if path.exists() else "does not exist"
        raise DatasetError(f"{what} {path} {state}", hint)
    return path


def require_list_file(path: Path, what: str, hint: str | None = None) -> Path:
    """``path`` if it is a file, else a DatasetError naming the list file that was expected."""
    if not path.is_file():
        state = "is a folder, not a file" if path.exists() else "does not exist"
        raise DatasetError(f"{what} {path} {state}", hint)
    return path


def read_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank, stripped lines of a text list with their 1-based line numbers (for error messages)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"list file {path} is not a text file") from exc
    except OSError as exc:
        raise DatasetError(f"cannot read list file {path}: {exc.strerror or exc}") from exc
    return [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def files_in(folder: Path) -> set[str]:
    """Names of the entries of ``folder``, read once: far cheaper than one ``stat`` per listed image."""
    try:
        return set(os.listdir(folder))
    except OSError as exc:
        raise DatasetError(f"cannot list image folder {folder}: {exc.strerror or exc}") from exc


def finish(
    records: list[ImageRecord],
    missing: list[str],
    skip_missing: bool,
    source: str,
    hint: str = "pass skip_missing=True (CLI: --skip-missing) to evaluate without them",
) -> RecordList:
    """Apply the missing-image policy and refuse an empty result.

    ``source`` names what was read (a list file or a folder) so that the error says where to look.
    """
    if missing and not skip_missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DatasetError(f"{source} lists image {missing[0]}{more}, which is missing on disk", hint)
    if not records:
        if missing:
            raise DatasetError(f"none of the {len(missing)} images listed in {source} exist on disk")
        raise DatasetError(f"{source} has no images")
    return RecordList(records, missing)
