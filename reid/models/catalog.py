"""The weights on this machine: what ``reid weights import`` and ``reid train`` wrote (``reid weights list``).

One JSON file, ``weights.json`` in reid's cache folder (``$REID_CACHE_DIR``, else ``~/.cache/reid``), so the
list survives between runs and does not depend on the folder a command ran in. Each entry names a checkpoint
by its absolute path, with its architecture, input size, embedding size, network identity, where it came
from and when it was recorded; recording the same path again replaces its entry. The file is rewritten
atomically under a lock (read, change, replace), so a crash or two commands at once never leave it torn.
It only lists files: removing it loses no weights, and a checkpoint that was moved or deleted is shown as
missing rather than dropped.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reid.errors import WeightsError

CATALOG_VERSION = 1
KINDS = ("imported", "trained")


@dataclass(frozen=True)
class WeightsEntry:
    """One checkpoint on this machine. ``origin`` says in words where it came from."""

    path: str
    kind: str
    architecture: str
    input_size: tuple[int, int]
    dim: int
    origin: str
    identity: str
    recorded: str

    @property
    def exists(self) -> bool:
        return Path(self.path).is_file()


def user_cache_dir() -> Path:
    """reid's per-user cache: ``$REID_CACHE_DIR``, else ``~/.cache/reid`` (ONNX graphs, the weights list)."""
    root = os.environ.get("REID_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "reid")
    return Path(root)


def catalog_path() -> Path:
    """Where the list lives: ``$REID_CACHE_DIR/weights.json`` (default ``~/.cache/reid/weights.json``)."""
    return user_cache_dir() / "weights.json"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside the list (POSIX ``flock``; without it, the atomic replace alone)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; concurrent recorders may then lose an entry, never tear the file
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != "reid-weights-list" or not isinstance(data.get("weights"), list):
            raise ValueError("not a reid weights list")
        return [dict(entry) for entry in data["weights"]]
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise WeightsError(
            f"the weights list {path} is not readable ({exc})",
            "it only lists checkpoints: move it away, and import or train again to rebuild it",
        ) from exc


def _entry(data: dict[str, Any]) -> WeightsEntry:
    try:
        return WeightsEntry(
            path=str(data["path"]),
            kind=str(data["kind"]),
            architecture=str(data["architecture"]),
            input_size=(int(data["input_size"][0]), int(data["input_size"][1])),
            dim=int(data["dim"]),
            origin=str(data["origin"]),
            identity=str(data["identity"]),
            recorded=str(data["recorded"]),
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise WeightsError(
            f"the weights list {catalog_path()} has a damaged entry ({exc})",
            "move the file away, and import or train again to rebuild it",
        ) from exc


def list_weights() -> list[WeightsEntry]:
    """Every recorded checkpoint, oldest first."""
    return [_entry(e) for e in _read(catalog_path())]


def embedding_size(ckpt: dict[str, Any]) -> int:
    """The embedding size of a checkpoint: its projection's, else its neck's, else (rare) its rebuilt network's."""
    state = ckpt["state_dict"]
    for key in ("fc.weight", "neck.weight"):
        if key in state:
            return int(state[key].shape[0])
    from reid.models.checkpoint import model_from_checkpoint

    return int(model_from_checkpoint(ckpt).embedding_dim)


def record_checkpoint(
    path: str | Path, kind: str, origin: str, ckpt: dict[str, Any] | None = None
) -> WeightsEntry:
    """Add (or replace) the entry of the checkpoint at ``path``; ``ckpt`` saves reading it again."""
    from reid.io import atomic_write_json
    from reid.models.checkpoint import checkpoint_identity, checkpoint_model_config, load_checkpoint

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    path = Path(path).expanduser().resolve()
    ckpt = ckpt if ckpt is not None else load_checkpoint(path)
    cfg = checkpoint_model_config(ckpt, str(path))
    entry = WeightsEntry(
        path=str(path),
        kind=kind,
        architecture=cfg.summary(),
        input_size=(int(ckpt["input_size"][0]), int(ckpt["input_size"][1])),
        dim=embedding_size(ckpt),
        origin=origin,
        identity=checkpoint_identity(ckpt),
        recorded=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )
    target = catalog_path()
    with _locked(target):
        entries = [e for e in _read(target) if e.get("path") != entry.path]
        entries.append({**asdict(entry), "input_size": list(entry.input_size)})
        try:
            atomic_write_json(
                target, {"format": "reid-weights-list", "version": CATALOG_VERSION, "weights": entries}
            )
        except OSError as exc:
            raise WeightsError(
                f"cannot update the weights list {target}: {exc.strerror or exc}",
                "set REID_CACHE_DIR to a writable folder",
            ) from exc
    return entry
