"""Reader of the VeRi-776 layout (Liu et al., ICME 2016 / ECCV 2016).

::

    <root>/image_train/  <root>/image_query/  <root>/image_test/     # parts "train", "query", "gallery"
    <root>/name_train.txt  <root>/name_query.txt  <root>/name_test.txt   # optional: the image order

File names are ``<vehicle>_c<camera>_<frame>_<n>.jpg`` (e.g. ``0002_c002_00030600_0.jpg``): the vehicle id and
the camera come from the name. Where a ``name_*.txt`` list exists it fixes the order (and is checked against the
folder); otherwise the folder's ``.jpg`` files are read in sorted order, so the order never depends on the file
system.
"""

from __future__ import annotations

import re
from pathlib import Path

from reid.data.records import RecordList, files_in, finish, read_lines, require_dir
from reid.errors import DatasetError
from reid.types import ImageRecord

#: part -> (image folder, optional name list)
VERI_PARTS: dict[str, tuple[str, str]] = {
    "train": ("image_train", "name_train.txt"),
    "query": ("image_query", "name_query.txt"),
    "gallery": ("image_test", "name_test.txt"),
}

_NAME = re.compile(r"^(-?\d+)_c(\d+)_", re.IGNORECASE)


def parse_veri_name(name: str) -> tuple[int, int]:
    """``(vehicle_id, camera)`` from a VeRi file name, or a DatasetError naming the file."""
    match = _NAME.match(Path(name).name)
    if match is None:
        raise DatasetError(
            f"VeRi image name {name!r} does not follow '<vehicle>_c<camera>_...jpg'",
            "for other layouts use the folder or csv dataset kind",
        )
    return int(match.group(1)), int(match.group(2))


def read_veri(root: str | Path, part: str, skip_missing: bool = False) -> RecordList:
    """Read one part of VeRi-776 as records with vehicle id and camera parsed from each file name."""
    if part not in VERI_PARTS:
        raise DatasetError(f"unknown VeRi part {part!r}", f"valid parts: {', '.join(VERI_PARTS)}")
    root = require_dir(Path(root), "VeRi root", "check --root")
    folder_name, list_name = VERI_PARTS[part]
    image_dir = require_dir(root / folder_name, f"VeRi {part} image folder", "is --root the VeRi-776 folder?")
    on_disk = files_in(image_dir)
    list_path = root / list_name
    records: list[ImageRecord] = []
    missing: list[str] = []
    if list_path.is_file():
        names = [line for _, line in read_lines(list_path)]
        source = str(list_path)
    else:
        names = sorted(n for n in on_disk if n.lower().endswith(".jpg"))
        source = f"VeRi {part} image folder {image_dir}"
    for name in names:
        vid, cam = parse_veri_name(name)
        path = str(image_dir / name)
        if name in on_disk:
            records.append(ImageRecord(path=path, label=vid, camera=cam))
        else:
            missing.append(path)
    return finish(records, missing, skip_missing, source)
