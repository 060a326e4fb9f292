"""The loss comparison script runs end to end and writes its table (tiny budget; numbers are not checked)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_train_compare_writes_table(tmp_path):
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "train_compare.py"
    spec = importlib.util.spec_from_file_location("train_compare", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "table.md"
    args = [
        "--epochs",
        "1",
        "--batches",
        "2",
        "--ids",
        "14",
        "--val-ids",
        "4",
        "--size",
        "32",
        "--p",
        "4",
        "--k",
        "2",
        "--work",
        str(tmp_path / "work"),
        "--out",
        str(out),
    ]
    assert module.main(args) == 0
    table = out.read_text()
    for name in ("untrained", "PNP-Dq", "PNP-Iu", "Smooth-AP"):
        assert f"| {name} |" in table
