"""The features file written by ``reid embed`` and read by ``reid eval --features``.

An ``.npz`` with ``features`` (N, D) float32 L2-normalised rows, ``paths`` (N,) str, ``labels`` (N,) int64 and
``cameras`` (N,) int64 (-1 where unknown), plus ``meta`` (a JSON string: model identity, preprocessing). Rows
are matched to a dataset list by path, so the file stays valid when the list is re-ordered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid.errors import InputError
from reid.io import atomic_write
from reid.types import ImageRecord


@dataclass
class FeatureSet:
    """Rows of embeddings with the images they came from."""

    features: np.ndarray
    paths: np.ndarray
    labels: np.ndarray
    cameras: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.features)

    @classmethod
    def from_records(cls, features: np.ndarray, records: list[ImageRecord], meta: dict | None = None) -> FeatureSet:
        return cls(
            features=np.asarray(features, dtype=np.float32),
            paths=np.array([r.path for r in records], dtype=str),
            labels=np.array([r.label for r in records], dtype=np.int64),
            cameras=np.array([r.camera for r in records], dtype=np.int64),
            meta=dict(meta or {}),
        )

    def align(self, records: list[ImageRecord], root: str | Path | None = None) -> np.ndarray:
        """Rows of ``features`` in the order of ``records``, matched by path.

        Paths are compared as given, then relative to ``root``, then by file name; a record with no row is
        an :class:`InputError` naming how many are missing and one example.
        """
        keys = [self._index_by(lambda p: p), self._index_by(lambda p: _rel(p, root)), self._index_by(lambda p: Path(p).name)]
        rows = np.empty(len(records), dtype=np.int64)
        missing: list[str] = []
        for i, rec in enumerate(records):
            for index, key in zip(keys, (rec.path, _rel(rec.path, root), Path(rec.path).name), strict=True):
                if key in index:
                    rows[i] = index[key]
                    break
            else:
                missing.append(rec.path)
        if missing:
            raise InputError(
                f"the features file has no row for {len(missing)} of {len(records)} listed images (e.g. {missing[0]})",
                "embed the same list with 'reid embed' first",
            )
        return self.features[rows]

    def _index_by(self, key) -> dict[str, int]:
        index: dict[str, int] = {}
        for i, p in enumerate(self.paths.tolist()):
            index.setdefault(key(p), i)
        return index


def _rel(path: str, root: str | Path | None) -> str:
    if root is None:
        return str(path)
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def save_features(path: str | Path, fs: FeatureSet) -> Path:
    """Write ``fs`` atomically to ``path`` (``.npz``)."""
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    with atomic_write(path, "wb") as handle:
        np.savez(
            handle,
            features=np.asarray(fs.features, np.float32),
            paths=np.asarray(fs.paths, dtype=str),
            labels=np.asarray(fs.labels, np.int64),
            cameras=np.asarray(fs.cameras, np.int64),
            meta=np.array(json.dumps(fs.meta)),
        )
    return path


def load_features(path: str | Path) -> FeatureSet:
    """Read a features file, with one clear error for a missing, corrupt or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"features file {path} does not exist", "check --features")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"features", "paths", "labels", "cameras"} - set(data.files)
            if missing:
                raise InputError(f"{path} is not a reid features file (missing {', '.join(sorted(missing))})")
            fs = FeatureSet(
                features=data["features"].astype(np.float32, copy=False),
                paths=data["paths"].astype(str),
                labels=data["labels"].astype(np.int64),
                cameras=data["cameras"].astype(np.int64),
                meta=json.loads(str(data["meta"])) if "meta" in data.files else {},
            )
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"features file {path} is corrupt or not an .npz file: {exc}") from exc
    n = len(fs.features)
    if fs.features.ndim != 2 or not (len(fs.paths) == len(fs.labels) == len(fs.cameras) == n):
        raise InputError(f"features file {path} is inconsistent: {n} feature rows vs {len(fs.paths)} paths")
    return fs
