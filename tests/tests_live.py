"""Helpers of the live tests."""

from __future__ import annotations

from pathlib import Path


def write_sources(path: Path, cameras: dict[str, object], links: list[dict] | None = None) -> Path:
    import yaml

    doc = {"kind": "cameras", "cameras": {n: {"source": s} for n, s in cameras.items()}}
    if links:
        doc["links"] = links
    path.write_text(yaml.safe_dump(doc))
    return path
