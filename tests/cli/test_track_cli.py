"""`reid track` and `reid eval mot` from the command line: outputs, refusals, bad input as one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from reid_cli.main import app
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
from synthetic import write_video  # noqa: E402

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reid_cli.main", *args], capture_output=True, text=True, timeout=300
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    text = " ".join(result.stderr.split())  # rich may wrap long lines
    assert text.startswith("error:"), result.stderr
    for needle in needles:
        assert needle in text, result.stderr


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    return write_video(root / "street.mp4", 30, gt_path=root / "gt" / "street.txt")


def test_track_end_to_end_then_refuse_non_empty_out(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["track", str(video), "--detector", "motion", "--no-reid", "--out", str(out), "--save-video"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "camera street" in result.output and "complete" in result.output
    assert (out / "mot" / "street.txt").is_file() and (out / "video" / "street.mp4").is_file()
    assert json.loads((out / "status.json").read_text())["cameras"]["street"]["state"] == "complete"
    assert "kind: track" in (out / "config.yaml").read_text()
    records = [json.loads(x) for x in (out / "tracklets.jsonl").read_text().splitlines()]
    assert records and all(r["camera"] == "street" for r in records)
    # a second run into the same folder is refused, then allowed with --overwrite
    again = runner.invoke(app, args)
    assert again.exit_code != 0 and "not empty" in str(again.exception)
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    scores = runner.invoke(app, ["eval", "mot", "--pred", str(out), "--gt", str(video.parent / "gt")])
    assert scores.exit_code == 0, scores.output
    assert "street" in scores.output and "overall" in scores.output


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli("track", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o")), "does not exist"
    )
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video")
    assert_one_line_error(run_cli("track", str(fake), "--out", str(tmp_path / "o")), "not a video")


def test_flag_and_output_errors(video: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(
        app, ["track", str(video), "--detector", "motion", "--no-reid", "--out", str(blocker / "sub")]
    )
    assert result.exit_code != 0 and "output" in str(result.exception)
    result = runner.invoke(app, ["track", str(video), "--vid-stride", "0", "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "vid_stride" in str(result.exception)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["track", str(empty), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "empty" in str(result.exception)


def test_unknown_class_lists_valid_ones(video: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "track",
            str(video),
            "--det-weights",
            "yolo11n.yaml",
            "--classes",
            "car,hovercraft",
            "--no-reid",
            "--out",
            str(tmp_path / "o"),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code != 0
    assert "hovercraft" in str(result.exception) and "truck" in str(result.exception)


@pytest.mark.slow
def test_track_with_random_reid_checkpoint(video: Path, tmp_path: Path) -> None:
    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model

    cfg = ModelConfig(arch="resnet18", pretrained="none", embedding_dim=32, input_size=(64, 64))
    ckpt = save_checkpoint(tmp_path / "random.pt", make_checkpoint(build_model(cfg), cfg))
    out = tmp_path / "run"
    result = run_cli(
        "track",
        str(video),
        "--detector",
        "motion",
        "--reid-weights",
        str(ckpt),
        "--out",
        str(out),
        "--save-crops",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(x) for x in (out / "tracklets.jsonl").read_text().splitlines()]
    assert records and all(r["crops"] and Path(r["crops"][0]).is_file() for r in records)
    assert "yes" in result.stdout  # the vector column


def test_a_damaged_reid_checkpoint_names_the_flag_that_gave_it(video: Path, tmp_path: Path) -> None:
    broken = tmp_path / "best.pt"
    broken.write_bytes(b"PK\x03\x04 not a checkpoint at all")
    result = run_cli("track", str(video), "--detector", "motion", "--reid-weights", str(broken),
                     "--out", str(tmp_path / "o"))
    assert_one_line_error(result, str(broken), "--reid-weights")
    assert "check --weights" not in " ".join(result.stderr.split())
