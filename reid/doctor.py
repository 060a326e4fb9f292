"""Environment report behind ``reid doctor``: versions, devices and locally available weights."""

from __future__ import annotations

import platform
from dataclasses import dataclass


@dataclass
class DoctorRow:
    item: str
    value: str
    status: str  # "ok", "warn" (works, but slower or needs a download), "missing"


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def collect(backbone: str = "resnet50", det_weights: str = "yolo11n.pt") -> list[DoctorRow]:
    """Rows describing this machine; never raises, a failing probe becomes a 'missing' row."""
    rows = [DoctorRow("Python", platform.python_version(), "ok")]
    from reid import __version__

    rows.append(DoctorRow("reid", __version__, "ok"))
    try:
        import torch

        rows.append(DoctorRow("torch", torch.__version__, "ok"))
        if torch.cuda.is_available():
            name = torch.cuda.get_device_name(0)
            rows.append(DoctorRow("CUDA", f"{torch.version.cuda} ({torch.cuda.device_count()} GPU: {name})", "ok"))
        else:
            rows.append(DoctorRow("CUDA", "not available: running on CPU", "warn"))
    except Exception as exc:
        rows.append(DoctorRow("torch", f"import failed: {exc}", "missing"))
    tv = _version("torchvision")
    rows.append(DoctorRow("torchvision", tv or "not installed", "ok" if tv else "missing"))
    try:
        import faiss

        gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        rows.append(DoctorRow("faiss", f"{faiss.__version__} ({gpus} GPU{'s' if gpus != 1 else ''})", "ok"))
    except Exception as exc:
        rows.append(DoctorRow("faiss", f"import failed: {exc}", "missing"))
    ul = _version("ultralytics")
    rows.append(DoctorRow("ultralytics", ul or "not installed", "ok" if ul else "missing"))
    ort = _version("onnxruntime")
    rows.append(DoctorRow("onnxruntime", ort or "not installed (pip install 'reid[onnx]')", "ok" if ort else "warn"))
    from reid.weights import find_detector_weights, imagenet_weights_file

    local = find_detector_weights(det_weights) if ul else None
    rows.append(
        DoctorRow(
            f"detector weights {det_weights}",
            str(local) if local else "not on disk: downloaded on first use (needs internet), or pass --det-weights",
            "ok" if local else "warn",
        )
    )
    try:
        path = imagenet_weights_file(backbone)
        present = path.is_file()
        rows.append(
            DoctorRow(
                f"ImageNet {backbone} weights",
                str(path) if present else f"not cached ({path.name}): downloaded on first use (needs internet)",
                "ok" if present else "warn",
            )
        )
    except Exception as exc:
        rows.append(DoctorRow(f"ImageNet {backbone} weights", f"unknown: {exc}", "missing"))
    return rows
