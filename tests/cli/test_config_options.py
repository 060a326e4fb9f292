"""`reid demo` and `reid embed` take --config/--set like every configurable command; flags win over YAML."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reid.config import load_config
from reid.demo import DemoSettings
from reid.models.config import EmbedConfig


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reid_cli.main", *args], capture_output=True, text=True, timeout=300)


def test_demo_settings_from_yaml_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text("kind: demo\nepochs: 3\nvehicles: 20\n")
    settings = load_config(DemoSettings, path, ["vehicles=5", "size=[320, 180]"])
    assert (settings.epochs, settings.vehicles, settings.size) == (3, 5, (320, 180))
    assert settings.cameras == 3  # untouched defaults stay


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["demo", "--set", "epochs=0"], "epochs"),
        (["demo", "--set", "bogus=1"], "unknown key bogus"),
        (["embed", "imgs", "--weights", "w.pt", "--set", "batch_size=0"], "batch_size"),
        (["embed", "imgs", "--weights", "w.pt", "--set", "nope=1"], "unknown key nope"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path: Path, args: list[str], expected: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reid_cli.main", *args], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "reid-demo").exists(), "a refused demo must not start writing its folder"


def test_embed_flags_win_over_yaml(tmp_path: Path) -> None:
    path = tmp_path / "embed.yaml"
    path.write_text("kind: embed\nbatch_size: 16\nnum_workers: 0\n")
    cfg = load_config(EmbedConfig, path, ["batch_size=64"])
    assert (cfg.batch_size, cfg.num_workers, cfg.device) == (64, 0, "auto")
