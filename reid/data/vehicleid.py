"""Reader of the VehicleID layout (Liu et al., CVPR 2016).

::

    <root>/image/<name>.jpg
    <root>/train_test_split/train_list.txt        # split "train"
    <root>/train_test_split/test_list_800.txt     # split "small"  (800 identities)
    <root>/train_test_split/test_list_1600.txt    # split "medium" (1,600 identities)
    <root>/train_test_split/test_list_2400.txt    # split "large"  (2,400 identities)

Each list line is ``<name> <vehicle_id>``. VehicleID has no camera ids, so every record's camera is -1.
"""

from __future__ import annotations

from pathlib import Path

from reid.data.records import RecordList, files_in, finish, read_lines, require_dir, require_list_file
from reid.errors import DatasetError
from reid.types import ImageRecord

#: split name -> list file under ``train_test_split/``.
VEHICLEID_SPLITS: dict[str, str] = {
    "train": "train_list.txt",
    "small": "test_list_800.txt",
    "medium": "test_list_1600.txt",
    "large": "test_list_2400.txt",
}


def vehicleid_list_path(root: str | Path, split: str) -> Path:
    """The list file of ``split`` (raises on an unknown split, listing the valid ones)."""
    if split not in VEHICLEID_SPLITS:
        raise DatasetError(
            f"unknown VehicleID split {split!r}",
            f"valid splits: {', '.join(VEHICLEID_SPLITS)} (--split)",
        )
    return Path(root) / "train_test_split" / VEHICLEID_SPLITS[split]


def read_vehicleid(root: str | Path, split: str, skip_missing: bool = False) -> RecordList:
    """Read one VehicleID list: records in list order, paths joined with ``<root>/image/``.

    A listed image that is not on disk is an error unless ``skip_missing`` (see :mod:`reid.data.records`).
    """
    root = Path(root)
    list_path = vehicleid_list_path(root, split)
    require_dir(root, "VehicleID root", "check --root")
    require_list_file(
        list_path, f"VehicleID {split} list", "is --root the folder that holds train_test_split/?"
    )
    image_dir = require_dir(
        root / "image", "VehicleID image folder", "is --root the folder that holds image/?"
    )
    on_disk = files_in(image_dir)
    records: list[ImageRecord] = []
    missing: list[str] = []
    for number, line in read_lines(list_path):
        parts = line.split()
        if len(parts) != 2:
            raise DatasetError(f"{list_path} line {number}: expected '<name> <vehicle_id>', got {line!r}")
        name, vid = parts
        try:
            label = int(vid)
        except ValueError:
            raise DatasetError(f"{list_path} line {number}: vehicle id {vid!r} is not an integer") from None
        file_name = name if name.lower().endswith(".jpg") else f"{name}.jpg"
        path = str(image_dir / file_name)
        if file_name in on_disk:
            records.append(ImageRecord(path=path, label=label, camera=-1))
        else:
            missing.append(path)
    return finish(records, missing, skip_missing, str(list_path))
