"""A YAML file that names one key twice is refused with the file, the key and the line: PyYAML alone would keep
the last value without a word, and a run would use a setting the user did not see."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid.config import load_yaml_text, read_yaml
from reid.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "key", "line", "first"), [
    ("kind: link\nthreshold: 0.5\nrounds: 1\nthreshold: 0.9\n", "threshold", 4, 2),
    ("kind: cameras\ncameras:\n  a: {}\n  b: {}\n  a: {start_time: 3}\n", "a", 5, 3),
    ("kind: link\nindex: {kind: flat, kind: ivf}\n", "kind", 2, 2),
    ("kind: link\ntrue: 1\nyes: 2\n", "yes", 3, 2),  # two spellings of one key
])
def test_duplicate_key_is_refused_naming_file_key_and_line(tmp_path: Path, text: str, key: str, line: int,
                                                           first: int) -> None:
    path = write(tmp_path / "dup.yaml", text)
    with pytest.raises(ConfigError) as info:
        read_yaml(path)
    message = str(info.value)
    assert str(path) in message and f"duplicate key {key!r}" in message
    assert f"line {line}" in message and f"first on line {first}" in message


def test_merge_keys_may_be_overridden_and_distinct_keys_are_kept() -> None:
    data = load_yaml_text("base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  x: 3\n1: one\n'1': text\n")
    assert data["d"] == {"x": 3, "y": 2} and data[1] == "one" and data["1"] == "text"


def test_cameras_sources_tracker_and_link_files_refuse_duplicates(tmp_path: Path) -> None:
    from reid.cameras import load_cameras
    from reid.live.sources import load_sources
    from reid.video.config import load_tracker_config

    cams = write(tmp_path / "cameras.yaml", "kind: cameras\ncameras:\n  cam1: {}\n  cam1: {}\n")
    with pytest.raises(ConfigError, match=r"cameras\.yaml line 4: duplicate key 'cam1'"):
        load_cameras(cams)
    sources = write(tmp_path / "SOURCES.yaml",
                    "kind: cameras\ncameras:\n  cam1: {source: a.mp4, source: b.mp4}\n")
    with pytest.raises(ConfigError, match=r"SOURCES\.yaml line 3: duplicate key 'source'"):
        load_sources(sources)
    tracker = write(tmp_path / "tracker.yaml", "kind: tracker\ntrack_buffer: 30\ntrack_buffer: 60\n")
    with pytest.raises(ConfigError, match=r"tracker\.yaml line 3: duplicate key 'track_buffer'"):
        load_tracker_config(str(tracker))


def test_cli_refuses_a_config_with_a_duplicate_key_in_one_line(tmp_path: Path, reid_main) -> None:
    link = write(tmp_path / "link.yaml", "kind: link\nthreshold: 0.5\nthreshold: 0.9\n")
    code, out, err = reid_main("gallery", "relink", str(tmp_path / "g"), "--link-config", str(link))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "link.yaml" in lines[0] and "duplicate key 'threshold'" in lines[0] and "line 3" in lines[0]
