"""Shared test settings: offline, deterministic, and light on the 2 CPU cores CI has."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """reid's user cache (ONNX graphs, the weights list) goes to a test folder, never the user's home."""
    monkeypatch.setenv("REID_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "reid-cache"))
