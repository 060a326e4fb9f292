"""`reid synth`: the three writers from the command line, and every bad input as one line with exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from reid_cli.main import app
from typer.testing import CliRunner

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reid_cli.main", *args], capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and needle in lines[0], lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_vehicleid_command_writes_the_layout(tmp_path):
    out = tmp_path / "vid"
    result = runner.invoke(app, ["synth", "vehicleid", "--out", str(out), "--ids", "5", "--seed", "3",
                                 "--set", "vehicleid.images_per_id=[2,2]", "--set", "vehicleid.size=[40,32]"])
    assert result.exit_code == 0, result.output
    train = (out / "train_test_split" / "train_list.txt").read_text().splitlines()
    test = (out / "train_test_split" / "test_list_2400.txt").read_text().splitlines()
    assert len({line.split()[1] for line in train}) == 3 and len({line.split()[1] for line in test}) == 2
    assert len(list((out / "image").glob("*.jpg"))) == 10
    assert "VehicleID" in result.output


def test_veri_command_with_a_config_file(tmp_path):
    cfg = tmp_path / "synth.yaml"
    cfg.write_text("kind: synth\nseed: 4\nveri: {num_train_ids: 2, num_test_ids: 2, cameras: 3, size: [40, 32]}\n")
    out = tmp_path / "veri"
    result = runner.invoke(app, ["synth", "veri", "--out", str(out), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    query = (out / "name_query.txt").read_text().split()
    assert query and all(n.endswith(".jpg") for n in query)
    assert {n.split("_")[1] for n in (out / "name_train.txt").read_text().split()} <= {"c001", "c002", "c003"}


def test_scene_command_and_overwrite(tmp_path):
    out = tmp_path / "scene"
    args = ["synth", "scene", "--out", str(out), "--cameras", "2", "--ids", "3", "--seconds", "2",
            "--set", "scene.size=[160,96]", "--set", "scene.fps=4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.mp4")) == ["cam1.mp4", "cam2.mp4"]
    assert (out / "cameras.yaml").read_text().startswith("kind: cameras")
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0


def test_scene_command_in_the_cityflow_layout(tmp_path):
    out = tmp_path / "aic"
    result = runner.invoke(app, ["synth", "scene", "--out", str(out), "--layout", "cityflow", "--cameras", "2",
                                 "--ids", "3", "--seconds", "2", "--set", "scene.size=[160,96]", "--set", "scene.fps=4"])
    assert result.exit_code == 0, result.output
    for cam in ("c001", "c002"):
        assert sorted(p.name for p in (out / "S01" / cam).iterdir()) == ["gt", "roi.jpg", "vdo.avi"]
    assert (out / "cam_timestamp" / "S01.txt").read_text() == "c001 0\nc002 0\n"
    assert "reid track" in result.output and "S01" in result.output
    assert_one_line_error(run_cli("synth", "scene", "--out", str(tmp_path / "x"), "--layout", "kitti"), "--layout")


def test_help_of_every_command():
    for command in ("vehicleid", "veri", "scene"):
        result = runner.invoke(app, ["synth", command, "--help"])
        assert result.exit_code == 0 and "--out" in result.output and "--seed" in result.output


def test_zero_cameras_is_one_line(tmp_path):
    assert_one_line_error(run_cli("synth", "scene", "--out", str(tmp_path / "s"), "--cameras", "0"), "--cameras")
    assert not (tmp_path / "s").exists()


def test_non_empty_output_is_refused_without_overwrite(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    assert_one_line_error(run_cli("synth", "vehicleid", "--out", str(tmp_path), "--ids", "2"), "--overwrite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_unwritable_output_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(run_cli("synth", "scene", "--out", str(blocker / "sub"), "--seconds", "1"), "cannot write")


@pytest.mark.parametrize(
    ("override", "needle"),
    [("scene.bogus=1", "unknown key scene.bogus"), ("scene.fps=fast", "scene.fps"), ("veri.cameras=1", "veri.cameras")],
)
def test_bad_config_values_are_one_line(tmp_path, override, needle):
    command = "veri" if override.startswith("veri") else "scene"
    assert_one_line_error(run_cli("synth", command, "--out", str(tmp_path / "o"), "--set", override), needle)


def test_config_of_the_wrong_kind_is_one_line(tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("kind: cameras\ncameras: {}\n")
    assert_one_line_error(run_cli("synth", "scene", "--out", str(tmp_path / "o"), "--config", str(cfg)), "kind")


def test_too_few_ids_is_one_line(tmp_path):
    assert_one_line_error(run_cli("synth", "vehicleid", "--out", str(tmp_path / "o"), "--ids", "1"), "--ids")
