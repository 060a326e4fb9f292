"""Shared test settings: offline, deterministic, and light on the 2 CPU cores CI has."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture()
def reid_main(monkeypatch, capsys):
    """Run the real ``reid`` entry point (with its error boundary) in-process: ``(exit code, stdout, stderr)``."""
    import sys

    def run(*args: str) -> tuple[int, str, str]:
        from reid_cli import main

        monkeypatch.setattr(sys, "argv", ["reid", *args])
        with pytest.raises(SystemExit) as exit_info:
            main.run()
        captured = capsys.readouterr()
        return int(exit_info.value.code or 0), captured.out, captured.err

    return run
