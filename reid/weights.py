"""The one place where weight files come from the internet.

Constructors never download. Commands that need pretrained weights (the Ultralytics detector, torchvision's
ImageNet backbones) ask this module, which finds a local copy or downloads it, and offline fails with a
message naming the file and the flag that points at a local copy.
"""

from __future__ import annotations

import os
from pathlib import Path

from reid.errors import WeightsError

DEFAULT_DETECTOR = "yolo11n.pt"


def ultralytics_weights_dir() -> Path:
    """Folder where Ultralytics keeps downloaded weights (its ``weights_dir`` setting)."""
    try:
        from ultralytics.utils import SETTINGS

        return Path(SETTINGS["weights_dir"])
    except Exception:  # settings unreadable: fall back to the working directory only
        return Path.cwd()


def find_detector_weights(name: str = DEFAULT_DETECTOR) -> Path | None:
    """Return a local copy of detector weights ``name`` (a path, or a file in cwd / the weights dir), if any."""
    candidate = Path(name).expanduser()
    if candidate.is_file():
        return candidate
    if candidate.name == str(name):
        for folder in (Path.cwd(), ultralytics_weights_dir()):
            path = folder / name
            if path.is_file():
                return path
    return None


def resolve_detector_weights(name: str = DEFAULT_DETECTOR, allow_download: bool = True) -> str:
    """Return something ``ultralytics.YOLO`` can load: a local file, a ``.yaml`` model spec, or a name to download.

    A ``.yaml`` spec builds the network with random weights (used by tests and benchmarks). A bare release
    name such as ``yolo11n.pt`` that is not on disk is downloaded by Ultralytics, which needs internet; that
    failure is turned into a :class:`WeightsError` by :func:`load_yolo`.
    """
    if str(name).endswith((".yaml", ".yml")):
        return str(name)
    local = find_detector_weights(name)
    if local is not None:
        return str(local)
    if Path(name).parent != Path(".") or not allow_download:
        raise WeightsError(f"detector weights {name} not found", "point --det-weights at a local .pt file")
    return str(name)


def load_yolo(name: str = DEFAULT_DETECTOR):
    """Build ``ultralytics.YOLO`` from ``name``; offline without the file, a clear :class:`WeightsError`."""
    from ultralytics import YOLO

    source = resolve_detector_weights(name)
    try:
        return YOLO(source)
    except Exception as exc:  # Ultralytics raises several types for a failed download
        if source.endswith((".yaml", ".yml")):
            raise WeightsError(f"cannot build detector from {source}: {exc}") from exc
        raise WeightsError(
            f"detector weights {name} are not on this machine and could not be downloaded ({type(exc).__name__})",
            "download them once with internet, or point --det-weights at a local .pt file",
        ) from exc


def torch_hub_checkpoint_dir() -> Path:
    """Folder where torchvision caches ImageNet weights (``$TORCH_HOME/hub/checkpoints``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def imagenet_weights_enum(arch: str):
    """torchvision's default weights enum member for ``arch`` (e.g. ``ResNet50_Weights.DEFAULT``)."""
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(arch).DEFAULT
    except (ValueError, KeyError) as exc:
        raise WeightsError(f"torchvision has no ImageNet weights for {arch!r}") from exc


def imagenet_weights_file(arch: str) -> Path:
    """Where torchvision stores (or would store) the ImageNet weights of ``arch``."""
    url = imagenet_weights_enum(arch).url
    return torch_hub_checkpoint_dir() / os.path.basename(url)


def load_imagenet_state_dict(arch: str, local_file: str | None = None, flag: str = "model.pretrained") -> dict:
    """State dict of torchvision's ImageNet weights for ``arch``: from ``local_file``, the cache, or a download.

    Offline without a cached copy, a :class:`WeightsError` names the file and how to avoid the download.
    """
    import torch

    if local_file:
        path = Path(local_file).expanduser()
        if not path.is_file():
            raise WeightsError(f"ImageNet weights file {path} does not exist", f"check {flag}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(f"{path} is not a readable PyTorch weights file: {exc}") from exc
        return state.get("state_dict", state) if isinstance(state, dict) else state
    weights = imagenet_weights_enum(arch)
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:
        raise WeightsError(
            f"ImageNet weights for {arch} ({imagenet_weights_file(arch).name}) are not cached and could not be "
            f"downloaded ({type(exc).__name__})",
            f"put the file in {torch_hub_checkpoint_dir()}, set {flag} to a local .pth file, or use 'none'",
        ) from exc
