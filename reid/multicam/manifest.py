"""The run manifest and the per-camera tracklet files that make a camera-folder run resumable.

A camera counts as finished only when the manifest says so, and the manifest is updated last, after the
camera's tracklet files are in place (each written atomically). An interrupted camera therefore never looks
finished: on the next run its partial work folder is removed and the camera is processed again, while the
finished cameras are loaded from their files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from reid.errors import OutputError
from reid.io import atomic_write, atomic_write_json
from reid.types import Tracklet

MANIFEST = "manifest.json"
FORMAT = "reid-multicam"
VERSION = 1


class Manifest:
    """``manifest.json`` of a run folder: the source, a run key, and each finished camera's summary."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load_or_create(cls, out_dir: Path, source: str, settings: dict[str, Any]) -> tuple[Manifest, bool]:
        """Open the manifest of ``out_dir`` (resuming) or start one; returns (manifest, resumed).

        A manifest of another source folder or other settings is refused: mixing two runs' cameras would
        give outputs that look complete but are not one run.
        """
        path = Path(out_dir) / MANIFEST
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise OutputError(f"run manifest {path} is corrupt: {exc}", "pass --overwrite to start again") from exc
            if data.get("format") != FORMAT:
                raise OutputError(f"{path} is not a reid camera-folder manifest", "choose another --out")
            if data.get("source") != source:
                raise OutputError(
                    f"output folder {out_dir} holds a run of {data.get('source')}, not {source}",
                    "choose another --out, or pass --overwrite to start again",
                )
            if data.get("settings") != settings:
                changed = sorted(k for k in set(settings) | set(data.get("settings", {}))
                                 if settings.get(k) != data.get("settings", {}).get(k))
                raise OutputError(
                    f"output folder {out_dir} holds a run with other settings ({', '.join(changed)})",
                    "rerun with the same settings to resume, or pass --overwrite to start again",
                )
            return cls(path, data), True
        import uuid

        data = {"format": FORMAT, "version": VERSION, "source": source, "run_key": uuid.uuid4().hex,
                "settings": settings, "cameras": {}, "linked": False}
        manifest = cls(path, data)
        manifest.save()
        return manifest, False

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    @property
    def run_key(self) -> str:
        return str(self.data["run_key"])

    def finished(self, camera: str) -> dict[str, Any] | None:
        return self.data["cameras"].get(camera)

    def mark_finished(self, camera: str, summary: dict[str, Any]) -> None:
        self.data["cameras"][camera] = summary
        self.data["linked"] = False
        self.save()

    def mark_linked(self, info: dict[str, Any]) -> None:
        self.data["linked"] = True
        self.data["link"] = info
        self.save()


def tracklets_paths(out_dir: Path, camera: str) -> tuple[Path, Path]:
    folder = Path(out_dir) / "tracklets"
    return folder / f"{camera}.npz", folder / f"{camera}.jsonl"


def save_tracklets(out_dir: Path, camera: str, tracklets: list[Tracklet], dim: int) -> None:
    """``tracklets/<camera>.npz`` (vectors) and ``.jsonl`` (everything else), each written atomically."""
    npz, jsonl = tracklets_paths(out_dir, camera)
    feats = np.zeros((len(tracklets), dim), np.float32)
    has = np.zeros(len(tracklets), bool)
    for i, t in enumerate(tracklets):
        if t.feature is not None:
            feats[i] = np.asarray(t.feature, np.float32).reshape(-1)
            has[i] = True
    with atomic_write(npz, "wb") as handle:
        np.savez(handle, features=feats, has_feature=has, track_ids=np.array([t.track_id for t in tracklets], np.int64))
    with atomic_write(jsonl) as handle:
        for t in tracklets:
            record = {k: getattr(t, k) for k in ("camera", "track_id", "cls", "first_frame", "last_frame",
                                                 "first_time", "last_time", "num_boxes", "crop_paths")}
            handle.write(json.dumps(record) + "\n")


def load_tracklets(out_dir: Path, camera: str) -> list[Tracklet]:
    """The tracklets saved by :func:`save_tracklets` (a damaged file is an :class:`OutputError`)."""
    npz, jsonl = tracklets_paths(out_dir, camera)
    try:
        with np.load(npz, allow_pickle=False) as data:
            feats, has, ids = data["features"], data["has_feature"], data["track_ids"]
        records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError, KeyError) as exc:
        raise OutputError(
            f"saved tracklets of camera {camera} in {npz.parent} are damaged: {exc}",
            "pass --overwrite to process the cameras again",
        ) from exc
    if len(records) != len(ids):
        raise OutputError(f"saved tracklets of camera {camera} disagree ({len(records)} records, {len(ids)} vectors)")
    out = []
    for rec, feat, ok in zip(records, feats, has, strict=True):
        out.append(Tracklet(feature=feat.copy() if ok else None, **rec))
    return out
