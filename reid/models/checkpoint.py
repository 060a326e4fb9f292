"""Checkpoints: one plain dict that rebuilds the network and its preprocessing, loaded without executing code.

Layout (``FORMAT_VERSION`` 2)::

    {"format": "reid-embedder", "format_version": 2,
     "model_config": {...ModelConfig...}, "input_size": [h, w], "mean": [..3], "std": [..3],
     "interpolation": "bilinear" | "bicubic",
     "state_dict": {name: tensor}, "meta": {...training or import metadata, e.g. meta["origin"]...},
     "train_state": {...optional: optimiser, schedule, sampler, RNG, epoch — only in last.pt...}}

Version 2 added ``interpolation`` and the model config fields of fast-reid's ResNet layout (IBN, non-local
blocks, last stride, fixed GeM, no projection). Version 1 files are still read: their preprocessing is
bilinear and their model configs validate with the new fields at their defaults.

Everything in it is a dict, list, str, number or tensor, so ``torch.load(weights_only=True)`` reads it; a
pickle that references any other object (a tampered or foreign file) is refused before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

from reid.errors import WeightsError
from reid.models.config import ModelConfig

FORMAT = "reid-embedder"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


def make_checkpoint(
    model: Any,
    cfg: ModelConfig,
    meta: dict[str, Any] | None = None,
    train_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The checkpoint dict of ``model`` (an Embedder, possibly wrapped in DDP) built from ``cfg``."""
    module = getattr(model, "module", model)
    state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
    ckpt: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": cfg.model_dump(mode="json"),
        "input_size": list(cfg.input_size),
        "mean": list(cfg.mean),
        "std": list(cfg.std),
        "interpolation": cfg.interpolation,
        "state_dict": state,
        "meta": dict(meta or {}),
    }
    if train_state is not None:
        ckpt["train_state"] = train_state
    return ckpt


def save_checkpoint(path: str | Path, ckpt: dict[str, Any]) -> Path:
    """Write ``ckpt`` atomically: a crash leaves the previous file, never a truncated one."""
    from reid.io import atomic_save_torch

    path = Path(path)
    atomic_save_torch(ckpt, path)
    return path


def load_checkpoint(path: str | Path, flag: str = "--weights") -> dict[str, Any]:
    """Read and check a checkpoint file; anything that is not one of ours is a :class:`WeightsError`.

    The error names the real cause: missing, empty, damaged (truncated or corrupt), foreign (another
    program's file, a detector checkpoint, a bare state dict) or unsafe (a pickle that would run code).
    """
    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise WeightsError(f"checkpoint {path} {what}", f"check {flag}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols of foreign files: we refuse those
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refused the pickle, or the file is not readable: find out why
        raise _load_failure(path, exc, flag) from exc
    return validate_checkpoint(ckpt, str(path))


def _load_failure(path: Path, exc: Exception, flag: str) -> WeightsError:
    """The :class:`WeightsError` that says why ``torch.load(weights_only=True)`` refused ``path``.

    The file is looked at again without running any of it (:mod:`reid.torchfile`): its archive, then the
    globals its pickle names.
    """
    from reid.torchfile import Allowed, TorchFileError, first_line, inspect_file
    from reid.weights import check_yolo_checkpoint, is_plain_data

    hint = f"check {flag}: it takes best.pt or last.pt of a 'reid train' run"
    try:
        scan = inspect_file(path, Allowed.everything())
    except TorchFileError as why:
        return WeightsError(f"checkpoint {path} {why.detail}", hint)
    code = sorted(n for n in scan.names if not is_plain_data(n))
    if code and all(n.startswith(("ultralytics.", "torch.nn.")) for n in code):
        try:
            check_yolo_checkpoint(path)
        except WeightsError:
            pass
        else:
            return WeightsError(f"checkpoint {path} is an Ultralytics detector checkpoint, not a reid embedder",
                                f"detector weights go to --det-weights; {hint}")
    if code:
        shown = ", ".join(code[:3]) + (", ..." if len(code) > 3 else "")
        return WeightsError(
            f"checkpoint {path} holds objects that a safe load refuses to create or call ({shown})",
            f"refused without running it; only load files written by 'reid train'; {hint}",
        )
    return WeightsError(f"checkpoint {path} is not a readable checkpoint ({first_line(exc)})", hint)


def validate_checkpoint(ckpt: Any, source: str = "checkpoint") -> dict[str, Any]:
    """Check the format and version of a loaded checkpoint dict."""
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise WeightsError(
            f"{source} is not a reid embedder checkpoint (a bare state dict or another program's file)",
            "use best.pt or last.pt from a 'reid train' run folder",
        )
    version = ckpt.get("format_version")
    if version not in READABLE_VERSIONS:
        raise WeightsError(
            f"{source} has checkpoint format version {version!r}; this reid reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}",
            "use the reid release that wrote it, or retrain",
        )
    for key in ("model_config", "state_dict", "input_size", "mean", "std"):
        if key not in ckpt:
            raise WeightsError(f"{source} is incomplete: it has no {key!r} entry")
    return ckpt


def checkpoint_interpolation(ckpt: dict[str, Any]) -> str:
    """The resize filter a checkpoint's network expects (version 1 files: bilinear, all they knew)."""
    value = ckpt.get("interpolation", "bilinear")
    if value not in ("bilinear", "bicubic"):
        raise WeightsError(f"checkpoint asks for an unknown resize filter {value!r}")
    return str(value)


def checkpoint_model_config(ckpt: dict[str, Any], source: str = "checkpoint") -> ModelConfig:
    """The :class:`ModelConfig` stored in ``ckpt`` (a clear error if it no longer validates)."""
    from reid.config import validate_config
    from reid.errors import ConfigError

    try:
        return validate_config(ModelConfig, ckpt["model_config"], source=f"{source} model_config")
    except ConfigError as exc:
        raise WeightsError(f"{source} describes a network this reid cannot build: {exc.message}") from exc


def model_from_checkpoint(ckpt_or_path: dict[str, Any] | str | Path, flag: str = "--weights"):
    """Rebuild the network of a checkpoint (path or loaded dict) with its weights, in eval mode, on CPU."""
    from reid.models.embedder import build_model

    if isinstance(ckpt_or_path, dict):
        source = "checkpoint"
        ckpt = validate_checkpoint(ckpt_or_path)
    else:
        source = str(ckpt_or_path)
        ckpt = load_checkpoint(ckpt_or_path, flag=flag)
    cfg = checkpoint_model_config(ckpt, source)
    model = build_model(cfg, load_pretrained=False)
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"{source}: the weights do not fit the network it describes ({first})") from exc
    return model.eval()


def checkpoint_identity(path_or_ckpt: dict[str, Any] | str | Path) -> str:
    """A short stable hash of the weights and the model config: equal only for the same network.

    It hashes tensor names, dtypes, shapes and bytes in sorted key order plus the canonical JSON of the model
    config, so re-saving a checkpoint or adding training metadata does not change it, while any change of a
    weight does. The gallery stores it to refuse mixing vectors from different networks.
    """
    import torch

    ckpt = path_or_ckpt if isinstance(path_or_ckpt, dict) else load_checkpoint(path_or_ckpt)
    ckpt = validate_checkpoint(ckpt)
    digest = hashlib.sha256()
    digest.update(json.dumps(ckpt["model_config"], sort_keys=True).encode())
    for name in sorted(ckpt["state_dict"]):
        tensor = ckpt["state_dict"][name]
        if not isinstance(tensor, torch.Tensor):
            raise WeightsError(f"checkpoint entry state_dict[{name!r}] is not a tensor")
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()[:16]


def safe_torch_load(path: Path, flag: str, what: str, hint: str, mmap: bool = False) -> Any:
    """Any PyTorch file (another program's too) through ``torch.load(weights_only=True)``, errors in one line.

    Used for files that are not reid checkpoints yet (a fast-reid checkpoint to import, a ``model.pretrained``
    to look into): missing, a folder, garbage or truncated, or a pickle that names code, which the safe loader
    refuses before anything runs. ``mmap`` maps tensors instead of reading them (a cheap look inside).
    """
    import pickle

    import torch

    if not path.is_file():
        raise WeightsError(f"{path} {'is a folder' if path.is_dir() else 'does not exist'}", f"check {flag}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols of foreign files
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        if "global" in str(exc).lower():  # a pickle naming a class or function: code, refused unrun
            message = f"{path} is not a {what}: it holds objects that a safe load refuses to execute"
            raise WeightsError(message, f"{hint}; check {flag}") from exc
        cause = "not a PyTorch file, or truncated"
    except Exception as exc:
        if mmap and "mmap" in str(exc).lower():  # an old (non-zip) torch file cannot be mapped: read it
            return safe_torch_load(path, flag, what, hint, mmap=False)
        cause = f"not a PyTorch file, or truncated: {type(exc).__name__}: {exc}".splitlines()[0]
    raise WeightsError(f"{path} is not a readable checkpoint ({cause})", f"check {flag}")
