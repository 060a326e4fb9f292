"""The CLI frame: fast help, version, doctor, and the error boundary (one red line, exit 2, no traceback)."""

from __future__ import annotations

import subprocess
import sys

from reid_cli.main import app
from typer.testing import CliRunner

from reid import __version__

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reid_cli.main", *args], capture_output=True, text=True, timeout=300
    )


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; sys.argv=['reid','--help']\n"
        "from reid_cli.main import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "heavy=[m for m in ('torch','ultralytics','faiss','cv2') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_doctor_lists_versions_and_weights() -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    for item in ("torch", "faiss", "ultralytics", "yolo11n.pt", "ImageNet resnet50"):
        assert item in result.output


def test_reid_error_is_one_line_exit_2() -> None:
    result = run_cli("doctor", "--backbone", "not_a_model")
    # doctor never fails on a bad probe; it reports it in the table
    assert result.returncode == 0
    assert "unknown" in result.stdout or "not_a_model" in result.stdout


def test_unknown_command_is_usage_error() -> None:
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
