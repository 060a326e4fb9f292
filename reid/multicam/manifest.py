"""The run manifest and the per-camera tracklet files that make a camera-folder run resumable.

A camera counts as finished only when the manifest says so, and the manifest is updated last, after the
camera's tracklet files are in place (each written atomically). An interrupted camera therefore never looks
finished: on the next run its partial work folder is removed and the camera is processed again, while the
finished cameras are loaded from their files.

Files damaged after the fact (a disk error, a copy cut short, an edit) are not trusted either. A finished
camera whose tracklet files do not load, or disagree with its summary, is processed again
(:meth:`Manifest.recheck_finished`); a damaged manifest that this runner wrote starts the run over, keeping
its run key when the damaged text still shows it. A file named ``manifest.json`` that this runner did not
write is refused and left alone. Each of these is one warning line in :attr:`Manifest.warnings`.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
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
        self.warnings: list[str] = []  # damaged resume files found and worked around, one line each

    @classmethod
    def load_or_create(cls, out_dir: Path, source: str, settings: dict[str, Any]) -> tuple[Manifest, bool]:
        """Open the manifest of ``out_dir`` (resuming) or start one; returns (manifest, resumed).

        A manifest of another source folder or other settings is refused: mixing two runs' cameras would
        give outputs that look complete but are not one run. A damaged manifest of this runner starts over.
        """
        path = Path(out_dir) / MANIFEST
        if path.is_file():
            data, damage = _read_manifest(path)
            if damage is None:
                _check_same_run(data, out_dir, source, settings)
                return cls(path, data), True
            if not _written_by_us(path, out_dir):
                raise OutputError(f"{path} is not a reid camera-folder manifest ({damage})",
                                  "choose another --out; the file was left as it was")
            manifest = cls._new(path, source, settings, _salvage_run_key(path))
            manifest.warnings.append(f"run manifest {path} is damaged ({damage}); every camera is processed again")
            return manifest, False
        return cls._new(path, source, settings, None), False

    @classmethod
    def _new(cls, path: Path, source: str, settings: dict[str, Any], run_key: str | None) -> Manifest:
        import uuid

        data = {"format": FORMAT, "version": VERSION, "source": source, "run_key": run_key or uuid.uuid4().hex,
                "settings": settings, "cameras": {}, "linked": False}
        manifest = cls(path, data)
        manifest.save()
        return manifest

    def recheck_finished(self, out_dir: Path) -> list[str]:
        """Forget finished cameras whose summary or tracklet files are damaged, so they are processed again.

        Returns (and keeps in :attr:`warnings`) one line per camera forgotten.
        """
        found = []
        for camera, summary in list(self.data["cameras"].items()):
            problem = _summary_problem(summary)
            if problem is None:
                try:
                    count = len(load_tracklets(out_dir, camera))
                except OutputError as exc:
                    problem = exc.message
                else:
                    if count != int(summary["tracklets"]):
                        problem = f"saved tracklets of camera {camera}: {count} on disk, {summary['tracklets']} recorded"
            if problem is not None:
                del self.data["cameras"][camera]
                found.append(f"camera {camera}: {problem}; processing it again")
        if found:
            self.data["linked"] = False
            self.save()
            self.warnings.extend(found)
        return found

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

    @property
    def link(self) -> dict[str, Any]:
        """What the last linking of this run recorded (``config``, ``report``, ...); empty before it."""
        return self.data.get("link", {})

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
    """The tracklets saved by :func:`save_tracklets`; a damaged or inconsistent file is an :class:`OutputError`."""
    npz, jsonl = tracklets_paths(out_dir, camera)
    try:
        with np.load(npz, allow_pickle=False) as data:
            feats, has, ids = data["features"], data["has_feature"], data["track_ids"]
        records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(records) != len(ids) or len(feats) != len(ids) or len(has) != len(ids):
            raise OutputError(f"saved tracklets of camera {camera} disagree ({len(records)} records, "
                              f"{len(ids)} vectors)", "pass --overwrite to process the cameras again")
        out = [_tracklet(rec, feat, bool(ok), camera) for rec, feat, ok in zip(records, feats, has, strict=True)]
    except FileNotFoundError as exc:
        raise OutputError(f"saved tracklets of camera {camera} are missing ({Path(exc.filename).name})",
                          "pass --overwrite to process the cameras again") from None
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise OutputError(
            f"saved tracklets of camera {camera} in {npz.parent} are damaged ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})",
            "pass --overwrite to process the cameras again",
        ) from None
    if [t.track_id for t in out] != [int(i) for i in ids]:
        raise OutputError(f"saved tracklets of camera {camera} disagree (track ids of the vectors and records)")
    return out


def _tracklet(record: Any, feature: np.ndarray, has_feature: bool, camera: str) -> Tracklet:
    """One saved record as a :class:`Tracklet`, refusing records of the wrong shape (``TypeError``/``ValueError``)."""
    if not isinstance(record, dict) or record.get("camera") != camera:
        raise ValueError("a record of another camera or not a record")
    if has_feature and not np.all(np.isfinite(feature)):
        raise ValueError("a vector with non-finite values")
    t = Tracklet(feature=feature.astype(np.float32).copy() if has_feature else None, **record)
    if not isinstance(t.track_id, int) or not isinstance(t.crop_paths, list):
        raise ValueError("a record with the wrong types")
    return t


_OUR_PREFIX = '{\n  "format": "' + FORMAT + '"'


def _read_manifest(path: Path) -> tuple[dict[str, Any], str | None]:
    """The manifest's data and None, or ({}, what is wrong with it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:  # '[[[[...' nested deeper than the parser goes
        return {}, "nested too deeply to read"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}, "not a reid-multicam manifest"
    if not isinstance(data.get("run_key"), str) or not isinstance(data.get("cameras"), dict):
        return {}, "no run key or camera list"
    wrong = [key for key, kinds in _SHAPE.items() if key in data and not isinstance(data[key], kinds)]
    wrong += [f"link.{key}" for key, kinds in _LINK_SHAPE.items()
              if isinstance(data.get("link"), dict) and key in data["link"] and not isinstance(data["link"][key], kinds)]
    if wrong:
        return {}, f"wrong type of {', '.join(wrong)}"
    return data, None


# the type of each known key, checked once when the manifest is read, so that the code using it can trust it
_SHAPE: dict[str, type | tuple[type, ...]] = {"version": int, "source": str, "settings": dict, "linked": bool,
                                              "link": dict}
_LINK_SHAPE: dict[str, type | tuple[type, ...]] = {"identities": int, "time": (int, float),
                                                   "config": dict, "report": (dict, type(None))}


def _written_by_us(path: Path, out_dir: Path) -> bool:
    """Whether a damaged ``manifest.json`` is this runner's: it starts the way our writer starts one, or it is
    empty beside the folders only this runner makes."""
    try:
        head = path.read_bytes()[: len(_OUR_PREFIX)].decode("utf-8", errors="replace")
    except OSError:
        return False
    if head == _OUR_PREFIX:
        return True
    return not head.strip() and any((Path(out_dir) / name).is_dir() for name in ("tracklets", "cameras"))


def _salvage_run_key(path: Path) -> str | None:
    """The run key of a damaged manifest, when the text still holds it (it is written near the start), so
    that a gallery that already holds the run is recognised and the run is not added twice."""
    try:
        text = path.read_bytes()[:4096].decode("utf-8", errors="replace")
    except OSError:
        return None
    match = re.search(r'"run_key": "([0-9a-f]{32})"', text)
    return match.group(1) if match else None


def _check_same_run(data: dict[str, Any], out_dir: Path, source: str, settings: dict[str, Any]) -> None:
    path = Path(out_dir) / MANIFEST
    if data.get("source") != source:
        raise OutputError(
            f"output folder {out_dir} holds a run of {data.get('source')}, not {source}",
            "choose another --out, or pass --overwrite to start again",
        )
    if data.get("settings") != settings:
        recorded = data.get("settings") if isinstance(data.get("settings"), dict) else {}
        changed = sorted(k for k in set(settings) | set(recorded) if settings.get(k) != recorded.get(k))
        raise OutputError(
            f"output folder {out_dir} holds a run with other settings ({', '.join(changed)})",
            f"rerun with the same settings to resume, or pass --overwrite to start again ({path.name})",
        )


def _summary_problem(summary: Any) -> str | None:
    """What is wrong with a finished camera's summary in the manifest, or None."""
    if not isinstance(summary, dict):
        return "its entry in the manifest is damaged"
    try:
        int(summary["frames"]), float(summary["fps"]), int(summary["tracklets"])
    except (KeyError, TypeError, ValueError):
        return "its entry in the manifest is damaged"
    return None
