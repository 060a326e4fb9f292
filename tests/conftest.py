"""Shared test settings: offline, deterministic, and light on the 2 CPU cores CI has."""

from __future__ import annotations

import os

pytest_plugins = ["shared_fixtures"]  # fixtures used in more than one folder

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("MPLBACKEND", "Agg")
