"""The run folder of ``reid train``: what is in it, how it is written, and which saved state a resume may trust.

``DIR/config.yaml``, ``DIR/metrics.jsonl`` (one JSON row per epoch), ``DIR/best.pt``, ``DIR/last.pt`` and
``DIR/last.prev.pt`` (the ``last.pt`` of the epoch before). Every checkpoint is refused before it is written if
it holds a non-finite tensor, and ``last.pt`` carries a digest of its contents. ``--resume`` takes the newest
of ``last.pt`` / ``last.prev.pt`` that reads back whole and matches its digest; when neither does, the run
starts again from the first epoch, and the caller says so.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reid.errors import OutputError, ReidError, TrainingError, WeightsError
from reid.train.guard import DIGEST_KEY, describe_nonfinite, nonfinite_tensors, state_digest

LAST = "last.pt"
PREVIOUS = "last.prev.pt"
BEST = "best.pt"
METRICS = "metrics.jsonl"
CONFIG = "config.yaml"
LINK = f".{PREVIOUS}.link"  # a hard link on its way to PREVIOUS
OWNED = (BEST, LAST, PREVIOUS, LINK, METRICS, CONFIG)
TRAIN_STATE_KEYS = ("epoch", "step", "nonfinite", "optimizer", "sampler", "rng")


@dataclass
class SavedState:
    """A ``last.pt`` (or ``last.prev.pt``) that read back whole: the checkpoint dict and where it came from."""

    path: Path
    ckpt: dict[str, Any]

    @property
    def train_state(self) -> dict[str, Any]:
        return self.ckpt["train_state"]

    @property
    def epoch(self) -> int:
        return int(self.train_state["epoch"])


class RunFolder:
    """Paths and writers of one run folder (only the main process writes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def has_run(self) -> bool:
        return (self / LAST).is_file() or (self / PREVIOUS).is_file()

    def prepare(self, resume: bool, overwrite: bool, inputs: Iterable[Any] = ()) -> None:
        """Check (``resume``) or create the folder; remove a previous run's files on ``overwrite``.

        A folder that holds one of ``inputs`` (the dataset, a pretrained checkpoint) or lies inside one is refused
        before anything is written or deleted."""
        from reid.io import prepare_output_dir
        from reid.outputs import check_not_overlapping

        check_not_overlapping(self.path, inputs)

        if resume:
            if not self.has_run():
                raise OutputError(
                    f"nothing to resume: {self / LAST} does not exist", "drop --resume to start a new run"
                )
            prepare_output_dir(self.path, resume=True)  # writes of the resumed run go through its ledger
            return
        if self.has_run() and not overwrite:
            raise OutputError(
                f"{self.path} already holds a training run",
                "pass --resume to continue it, --overwrite to start over",
            )
        # with overwrite, the earlier run's files go (per the folder's ledger); a file of these names that reid
        # did not write is refused, never deleted
        prepare_output_dir(self.path, overwrite, owned=OWNED)

    # -- metrics.jsonl -------------------------------------------------------------------------------------
    def read_metrics(self) -> list[dict[str, Any]]:
        path = self / METRICS
        if not path.is_file():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a torn last line from a crash: everything after it is not trusted
        return rows

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        from reid.io import atomic_write_text

        atomic_write_text(self / METRICS, "".join(json.dumps(r) + "\n" for r in rows))

    def append_metrics(self, row: dict[str, Any]) -> None:
        from reid.io import open_for_writing

        with open_for_writing(self / METRICS, "a") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def write_config(self, text: str) -> None:
        from reid.io import atomic_write_text

        atomic_write_text(self / CONFIG, text)

    # -- checkpoints -------------------------------------------------------------------------------------
    def save_best(self, ckpt: dict[str, Any]) -> None:
        save_finite(self / BEST, ckpt)

    def save_last(self, ckpt: dict[str, Any]) -> None:
        """Write ``last.pt`` with its digest, keeping the one it replaces as ``last.prev.pt``.

        The old file is hard-linked to its new name before the new one atomically takes its place, so there
        is no moment without a ``last.pt``; where hard links are not supported it is renamed instead.
        """
        ckpt["train_state"][DIGEST_KEY] = state_digest(ckpt)
        require_finite(ckpt, self / LAST)
        last, prev = self / LAST, self / PREVIOUS
        if last.is_file():
            from reid.outputs import claim

            tmp = self / LINK
            claim(prev)
            claim(tmp)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            try:
                os.link(last, tmp)
                os.replace(tmp, prev)
            except OSError:
                os.replace(last, prev)
        from reid.models.checkpoint import save_checkpoint

        save_checkpoint(last, ckpt)

    def load_resumable(self) -> tuple[SavedState | None, list[str]]:
        """The newest saved state that reads back whole, and one line per file that was passed over."""
        passed_over: list[str] = []
        for name in (LAST, PREVIOUS):
            path = self / name
            if not path.is_file():
                if name == LAST:
                    passed_over.append(f"{path} is missing")
                continue
            problem, state = read_saved_state(path)
            if state is not None:
                return state, passed_over
            passed_over.append(f"{path} {problem}")
        return None, passed_over


def read_saved_state(path: Path) -> tuple[str | None, SavedState | None]:
    """``(None, state)`` for an intact ``last.pt``, else ``(what is wrong with it, None)``."""
    from reid.models.checkpoint import load_checkpoint

    try:
        ckpt = load_checkpoint(path, flag="--out")
    except WeightsError as exc:
        if "not a readable checkpoint" in exc.message or "damaged" in exc.message:  # the reader's text is long
            return "is truncated or corrupt (it cannot be read as a checkpoint)", None
        return _first_line(exc.message.replace(f"{path} ", "", 1)), None
    ts = ckpt.get("train_state")
    if not isinstance(ts, dict) or any(key not in ts for key in TRAIN_STATE_KEYS):
        return "holds no complete training state", None
    stored = ts.get(DIGEST_KEY)
    if stored is not None and stored != state_digest(ckpt):
        return "is damaged (its contents do not match the digest written with it)", None
    bad = nonfinite_tensors({"state_dict": ckpt["state_dict"], "train_state": ts})
    if bad:
        return f"holds {describe_nonfinite(bad)}", None
    return None, SavedState(path, ckpt)


def require_finite(ckpt: dict[str, Any], path: Path) -> None:
    """Refuse to write a checkpoint with a NaN or infinite tensor: a poisoned file is worse than none."""
    bad = nonfinite_tensors({"state_dict": ckpt.get("state_dict"), "train_state": ckpt.get("train_state")})
    if bad:
        raise TrainingError(
            f"not writing {path}: the network or optimiser state holds {describe_nonfinite(bad)}",
            "lower optim.lr or set optim.grad_clip; the checkpoints already in the run folder are kept",
        )


def save_finite(path: Path, ckpt: dict[str, Any]) -> None:
    from reid.models.checkpoint import save_checkpoint

    require_finite(ckpt, path)
    save_checkpoint(path, ckpt)


def remote_error(exc: ReidError) -> str:
    """An expected error as a string another DDP rank can raise again with :func:`raise_remote`."""
    return json.dumps([type(exc).__name__, exc.message, exc.hint])


def raise_remote(message: str) -> None:
    import reid.errors as errors

    name, text, hint = json.loads(message)
    raise getattr(errors, name, errors.ReidError)(text, hint)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text
