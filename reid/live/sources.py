"""``SOURCES.yaml``: the ``cameras.yaml`` schema (``kind: cameras``) with a ``source:`` per camera.

Example::

    kind: cameras
    cameras:
      gate:  {source: "rtsp://10.0.0.5/stream1"}
      north: {source: "http://10.0.0.6/video.mjpg", start_time: 0.0}
      desk:  {source: 0}                      # a webcam index
      replay: {source: "recordings/cam3.mp4"}  # a file, read at its own frame rate as if live
    links:
      - {a: gate, b: north, min_travel: 5, max_travel: 60}

Problems of the whole file (no sources, an unknown key, two cameras with one source, two names that become one
file name) stop the run before it starts. A problem of one camera (a malformed URL, a file that does not exist)
is reported for that camera while the others run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from reid.cameras import CamerasConfig, load_cameras
from reid.errors import ConfigError
from reid.outputs import safe_component
from reid.video.sources import STREAM_PREFIXES


@dataclass
class LiveSource:
    """One camera of a live run: its safe name, what to open, its clock offset, and a problem if it has one."""

    name: str
    source: str
    start_time: float = 0.0
    problem: str | None = None

    @property
    def is_file(self) -> bool:
        return not self.source.strip().isdigit() and "://" not in self.source


def load_sources(path: str | Path) -> tuple[list[LiveSource], CamerasConfig]:
    """The cameras of ``SOURCES.yaml`` and its topology; refuses a file that cannot run at all."""
    path = Path(path)
    cfg = load_cameras(path)
    if not cfg.cameras:
        raise ConfigError(f"{path} lists no cameras", "add cameras with a source: each (see reid live --help)")
    missing = [name for name, cam in cfg.cameras.items() if cam.source is None]
    if missing:
        raise ConfigError(f"{path}: camera{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                          f"{'have' if len(missing) > 1 else 'has'} no source", "give every camera a source:")
    sources: list[LiveSource] = []
    names: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, cam in cfg.cameras.items():
        safe = safe_component(name)
        if safe in names:
            raise ConfigError(f"{path}: cameras {names[safe]!r} and {name!r} would write the same files",
                              "give them names that differ in letters or digits")
        names[safe] = name
        spec = str(cam.source).strip()
        key = _normalised(spec, path.parent)
        if key in seen:
            raise ConfigError(f"{path}: cameras {seen[key]!r} and {name!r} have the same source {spec}",
                              "each camera reads its own source")
        seen[key] = name
        if not ("://" in spec or spec.isdigit()) and not Path(spec).is_absolute():
            spec = str((path.parent / spec).resolve())  # a file relative to SOURCES.yaml
        sources.append(LiveSource(safe, spec, float(cam.start_time), problem=source_problem(spec)))
    if safe_names_changed(cfg, names):
        cfg = _renamed(cfg, {v: k for k, v in names.items()})
    return sources, cfg


def source_problem(spec: str) -> str | None:
    """Why ``spec`` cannot be opened as a camera, as far as one can tell without opening it."""
    if spec.isdigit():
        return None
    if "://" in spec:
        try:
            parts = urlsplit(spec)
        except ValueError as exc:
            return f"malformed URL {spec!r}: {exc}"
        if not spec.lower().startswith(STREAM_PREFIXES):
            return f"malformed or unsupported URL {spec!r} (use {', '.join(p.rstrip(':/') for p in STREAM_PREFIXES)})"
        if not parts.hostname:
            return f"malformed URL {spec!r}: no host"
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            return f"malformed URL {spec!r}: bad port"
        return None
    if not Path(spec).exists():
        return f"source file {spec} does not exist"
    return None


def _normalised(spec: str, base: Path) -> str:
    if spec.isdigit():
        return f"webcam:{int(spec)}"
    if "://" in spec:
        return spec.rstrip("/")
    return str((base / spec).resolve())


def safe_names_changed(cfg: CamerasConfig, names: dict[str, str]) -> bool:
    return any(safe != original for safe, original in names.items())


def _renamed(cfg: CamerasConfig, rename: dict[str, str]) -> CamerasConfig:
    """The config with camera names replaced by their safe names (links too)."""
    data = cfg.model_dump()
    data["cameras"] = {rename.get(k, k): v for k, v in data["cameras"].items()}
    for link in data["links"]:
        link["a"], link["b"] = rename.get(link["a"], link["a"]), rename.get(link["b"], link["b"])
    return CamerasConfig.model_validate(data)
