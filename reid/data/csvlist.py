"""Reader of a CSV image list: ``path,id[,camera][,split]``, with or without a header row.

* Without a header the columns are positional: path, id, then optionally camera, then optionally split.
  A row is taken as a header when its id field is not an integer.
* With a header the columns are found by name (``path``; ``id`` or ``label``; ``camera`` or ``cam``;
  ``split``), in any order; other columns are ignored.
* Relative paths are resolved against the CSV file's folder, so a dataset folder with its CSV can be moved.
* ``split`` keeps only the rows whose split column equals it (e.g. ``train``, ``query``, ``gallery``); asking
  for a split from a file without a split column is an error rather than silently returning every row.
* An empty camera field is -1.
"""

from __future__ import annotations

import csv
from pathlib import Path

from reid.data.records import RecordList, finish, require_list_file
from reid.errors import DatasetError
from reid.types import ImageRecord

_ALIASES = {
    "path": ("path", "image", "file"),
    "id": ("id", "label", "vehicle_id"),
    "camera": ("camera", "cam"),
    "split": ("split",),
}


def _is_int(text: str) -> bool:
    try:
        int(text.strip())
    except ValueError:
        return False
    return True


def _columns(header: list[str], path: Path) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    cols: dict[str, int] = {}
    for key, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in names:
                cols[key] = names.index(alias)
                break
    if "path" not in cols or "id" not in cols:
        raise DatasetError(
            f"CSV {path}: header {','.join(header)!r} has no 'path' and 'id' columns",
            "expected columns path,id[,camera][,split]",
        )
    return cols


def read_csv(path: str | Path, split: str | None = None, skip_missing: bool = False) -> RecordList:
    """Read a CSV image list (see the module docstring for the format)."""
    path = require_list_file(Path(path), "CSV list", "check the CSV path")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"CSV {path} is not a readable CSV text file: {exc}") from exc
    if not rows:
        raise DatasetError(f"CSV {path} has no rows")
    first_line = 1
    if len(rows[0]) >= 2 and not _is_int(rows[0][1]):
        cols = _columns(rows[0], path)
        rows = rows[1:]
        first_line = 2
    else:
        cols = {"path": 0, "id": 1}
        width = len(rows[0])
        if width >= 3:
            # A third column is a camera when numeric (or empty), else a split; a fourth is always the split.
            third = [r[2].strip() for r in rows if len(r) > 2]
            if all(t == "" or _is_int(t) for t in third):
                cols["camera"] = 2
                if width >= 4:
                    cols["split"] = 3
            else:
                cols["split"] = 2
    if split is not None and "split" not in cols:
        raise DatasetError(
            f"CSV {path} has no split column, so split {split!r} cannot be selected",
            "add a split column (path,id,camera,split) or leave the split out",
        )
    base = path.parent
    records: list[ImageRecord] = []
    missing: list[str] = []
    splits_seen: set[str] = set()
    need = max(cols.values())
    for number, row in enumerate(rows, start=first_line):
        if len(row) <= need:
            raise DatasetError(
                f"CSV {path} line {number}: expected {need + 1} columns, got {len(row)}: {row!r}"
            )
        if "split" in cols:
            row_split = row[cols["split"]].strip()
            splits_seen.add(row_split)
            if split is not None and row_split != split:
                continue
        raw_id = row[cols["id"]].strip()
        if not _is_int(raw_id):
            raise DatasetError(f"CSV {path} line {number}: id {raw_id!r} is not an integer")
        camera = -1
        if "camera" in cols and row[cols["camera"]].strip():
            raw_cam = row[cols["camera"]].strip()
            if not _is_int(raw_cam):
                raise DatasetError(f"CSV {path} line {number}: camera {raw_cam!r} is not an integer")
            camera = int(raw_cam)
        image = Path(row[cols["path"]].strip())
        image = image if image.is_absolute() else base / image
        if image.is_file():
            records.append(ImageRecord(path=str(image), label=int(raw_id), camera=camera))
        else:
            missing.append(str(image))
    if split is not None and not records and not missing:
        raise DatasetError(
            f"CSV {path} has no rows of split {split!r}",
            f"splits in the file: {', '.join(sorted(splits_seen)) or 'none'}",
        )
    return finish(records, missing, skip_missing, f"CSV {path}")
