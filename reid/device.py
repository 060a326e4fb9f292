"""Device selection: ``auto`` means CUDA when present, else CPU (the house rule for every stage)."""

from __future__ import annotations

from reid.errors import ConfigError


def resolve_device(name: str = "auto") -> str:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N`` into a concrete torch device string.

    Asking for CUDA on a machine without it is an error rather than a silent fallback: a user who asked
    for the GPU wants to know that it is not being used.
    """
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for but CUDA is not available", "use --device cpu or auto")
        return name
    raise ConfigError(f"unknown device {name!r}", "valid values: auto, cpu, cuda, cuda:N")
