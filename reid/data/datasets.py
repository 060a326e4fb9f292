"""One entry point to every dataset format: ``read_dataset(kind, root, split)``.

``READERS`` is the explicit registry (kind -> reader); what ``split`` means depends on the format:

=============  ==============================  =====================================================
kind           root                            split
=============  ==============================  =====================================================
``vehicleid``  the VehicleID folder            ``train``, ``small``, ``medium``, ``large`` (required)
``veri``       the VeRi-776 folder             ``train``, ``query``, ``gallery`` (required)
``folder``     a folder of identity folders    ``None``: read ``root``; a name: read ``root/<name>``
                                               (e.g. ``train``, ``query``, ``gallery`` subfolders)
``csv``        the CSV file                    ``None``: every row; a name: rows whose split column matches
=============  ==============================  =====================================================

Every reader returns a :class:`~reid.data.records.RecordList` (a list of ImageRecord with ``missing``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reid.data.csvlist import read_csv
from reid.data.folder import read_folder
from reid.data.records import RecordList
from reid.data.vehicleid import VEHICLEID_SPLITS, read_vehicleid
from reid.data.veri import VERI_PARTS, read_veri
from reid.errors import DatasetError


def _vehicleid(root: Path, split: str | None, skip_missing: bool) -> RecordList:
    if split is None:
        raise DatasetError(
            "a VehicleID dataset needs a split", f"valid splits: {', '.join(VEHICLEID_SPLITS)}"
        )
    return read_vehicleid(root, split, skip_missing=skip_missing)


def _veri(root: Path, split: str | None, skip_missing: bool) -> RecordList:
    if split is None:
        raise DatasetError("a VeRi dataset needs a part", f"valid parts: {', '.join(VERI_PARTS)}")
    return read_veri(root, split, skip_missing=skip_missing)


def _folder(root: Path, split: str | None, skip_missing: bool) -> RecordList:
    # Images come from a directory walk, so none can be missing: skip_missing has nothing to skip.
    return read_folder(root if split is None else root / split)


def _csv(root: Path, split: str | None, skip_missing: bool) -> RecordList:
    return read_csv(root, split=split, skip_missing=skip_missing)


#: kind -> reader(root, split, skip_missing). Explicit, so every format is visible in one place.
READERS: dict[str, Callable[[Path, str | None, bool], RecordList]] = {
    "vehicleid": _vehicleid,
    "veri": _veri,
    "folder": _folder,
    "csv": _csv,
}


def read_dataset(
    kind: str, root: str | Path, split: str | None = None, skip_missing: bool = False
) -> RecordList:
    """Read ``split`` of the dataset of format ``kind`` at ``root`` (see the table in the module docstring)."""
    if kind not in READERS:
        raise DatasetError(f"unknown dataset kind {kind!r}", f"valid kinds: {', '.join(READERS)}")
    return READERS[kind](Path(root), split, skip_missing)
