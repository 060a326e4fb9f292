"""Reader of the simplest layout: one subfolder per identity.

::

    <root>/<identity>/<any name>.<jpg|jpeg|png|bmp|webp|tif|tiff>

Labels: when every subfolder name is an integer (``0007``, ``12``) the label is that integer, so ids stay the
ones a user sees on disk; otherwise the subfolder names are sorted and numbered 0, 1, 2, ... in that order
(``reid.data.folder.folder_label_map`` shows the mapping). Only files directly inside each identity folder are
read, in sorted order; hidden files and folders are ignored. There is no camera information: camera is -1.
"""

from __future__ import annotations

from pathlib import Path

from reid.data.records import IMAGE_EXTENSIONS, RecordList, finish, require_dir
from reid.errors import DatasetError
from reid.types import ImageRecord


def _identity_dirs(root: Path) -> list[Path]:
    return sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name
    )


def folder_label_map(root: str | Path) -> dict[str, int]:
    """Subfolder name -> label, by the rule in the module docstring."""
    root = require_dir(Path(root), "image folder", "check the folder path")
    names = [p.name for p in _identity_dirs(root)]
    try:
        labels = {name: int(name) for name in names}
    except ValueError:
        return {name: i for i, name in enumerate(names)}
    if len(set(labels.values())) != len(labels):  # "7" and "007" would merge two identities
        return {name: i for i, name in enumerate(names)}
    return labels


def read_folder(root: str | Path) -> RecordList:
    """Read ``root/<identity>/<image>`` into records (camera -1). No subfolder or no image is a DatasetError."""
    root = require_dir(Path(root), "image folder", "check the folder path")
    label_of = folder_label_map(root)
    if not label_of:
        raise DatasetError(
            f"image folder {root} has no identity subfolders",
            "expected one subfolder per identity: <folder>/<identity>/<image>.jpg",
        )
    records: list[ImageRecord] = []
    for name, label in label_of.items():
        for image in sorted((root / name).iterdir(), key=lambda p: p.name):
            if (
                image.is_file()
                and not image.name.startswith(".")
                and image.suffix.lower() in IMAGE_EXTENSIONS
            ):
                records.append(ImageRecord(path=str(image), label=label, camera=-1))
    return finish(records, [], False, f"image folder {root} (one subfolder per identity)")
