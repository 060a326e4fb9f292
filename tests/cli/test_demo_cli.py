"""``reid demo``: its help, its refusal of a foreign folder, and (slow) the whole run and its reuse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from reid_cli.main import app
from typer.testing import CliRunner

runner = CliRunner()


def test_help_describes_the_demo() -> None:
    result = runner.invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    assert "cross-camera IDF1" in result.output and "--out" in result.output


def test_foreign_folder_refused_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    proc = subprocess.run([sys.executable, "-m", "reid_cli.main", "demo", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not a reid demo folder" in lines[0]
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.slow
def test_demo_runs_and_reuses_its_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REID_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--epochs", "1", "--vehicles", "6", "--seconds", "12", "--device", "cpu",
            "--workers", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "cross-camera IDF1" in result.output and "trained now" in result.output
    report = out / "run" / "report.html"
    assert report.is_file() and "cross-camera IDF1" in report.read_text()
    results = json.loads((out / "demo.json").read_text())["results"]
    assert 0.0 <= results["idf1"] <= 1.0
    mtime = (out / "model" / "best.pt").stat().st_mtime
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "reused" in again.output
    assert (out / "model" / "best.pt").stat().st_mtime == mtime
    assert json.loads((out / "demo.json").read_text())["results"] == results
