"""The cameras.yaml schema: validation, topology queries and the loader's one-line errors."""

from __future__ import annotations

import math

import pytest

from reid.cameras import CamerasConfig, load_cameras
from reid.config import builtin_config, load_any_config
from reid.errors import ConfigError


def _write(tmp_path, text):
    path = tmp_path / "cameras.yaml"
    path.write_text(text)
    return path


def test_links_are_undirected_with_travel_windows(tmp_path):
    cfg = load_cameras(_write(tmp_path, """
kind: cameras
cameras: {a: {fps: 10}, b: {fps: 25, start_time: 3.5}, c: {}}
links:
  - {a: a, b: b, min_travel: 2, max_travel: 9}
"""))
    assert cfg.connected("a", "b") and cfg.connected("b", "a")
    assert not cfg.connected("a", "c")
    assert cfg.travel_window("b", "a") == (2.0, 9.0)
    assert cfg.travel_window("a", "c") is None
    assert cfg.cameras["b"].frame_time(1) == 3.5
    assert cfg.cameras["b"].frame_time(26) == pytest.approx(4.5)


def test_without_links_any_pair_may_link():
    cfg = CamerasConfig.model_validate({"cameras": {"x": {}, "y": {}}})
    assert cfg.connected("x", "y")
    lo, hi = cfg.travel_window("x", "y")
    assert lo == 0.0 and math.isinf(hi)
    assert not cfg.connected("x", "x")


@pytest.mark.parametrize(
    ("links", "needle"),
    [
        ("[{a: cam1, b: cam9}]", "unknown camera 'cam9'"),
        ("[{a: cam1, b: cam2, min_travel: 5, max_travel: 1}]", "min_travel 5.0 is larger than max_travel 1.0"),
        ("[{a: cam1, b: cam2}, {a: cam2, b: cam1}]", "linked twice"),
        ("[{a: cam1, b: cam2, min_travel: -1}]", "min_travel"),
    ],
)
def test_bad_links_are_one_line_config_errors(tmp_path, links, needle):
    path = _write(tmp_path, f"kind: cameras\ncameras: {{cam1: {{}}, cam2: {{}}}}\nlinks: {links}\n")
    with pytest.raises(ConfigError) as info:
        load_cameras(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_wrong_kind_and_unknown_key_are_rejected(tmp_path):
    with pytest.raises(ConfigError, match="kind 'synth'"):
        load_cameras(_write(tmp_path, "kind: synth\n"))
    with pytest.raises(ConfigError, match="unknown key cameras.cam1.zoom"):
        load_cameras(_write(tmp_path, "kind: cameras\ncameras: {cam1: {zoom: 2}}\n"))


@pytest.mark.parametrize("name", ["synth.yaml", "cameras_example.yaml"])
def test_shipped_configs_load(name):
    cfg = load_any_config(builtin_config(name))
    assert cfg is not None
