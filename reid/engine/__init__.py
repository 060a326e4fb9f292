"""Engines run camera workers and deliver their messages: "run these camera workers and give me their events".

The rest of the code does not know which engine runs it. ``local`` runs workers as processes of this machine
(:mod:`reid.engine.local`); ``ray`` runs them as Ray tasks and actors on a cluster (:mod:`reid.engine.ray`,
with the ``ray`` extra). Both take :class:`reid.engine.messages.CameraJob` values and hand back the messages of
:mod:`reid.engine.messages`, in arrival order, to one callback in the driver, which alone writes the gallery.
"""

from __future__ import annotations

from typing import Any

# name -> "module:class"; imported on use, so that the CLI starts fast and Ray stays optional
ENGINES: dict[str, str] = {"local": "reid.engine.local:LocalEngine", "ray": "reid.engine.ray:RayEngine"}


def build_engine(name: str, **options: Any) -> Any:
    """The engine called ``name`` (see :data:`ENGINES`), built with ``options``."""
    import importlib

    from reid.errors import ConfigError

    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}", f"use one of: {', '.join(ENGINES)}")
    module, cls = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), cls)(**options)
