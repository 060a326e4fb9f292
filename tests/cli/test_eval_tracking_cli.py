"""``reid eval mot`` and ``reid eval mtmc`` from the command line: HOTA beside IDF1 in the tables and the JSON,
an AI City submission file with ``--format aic``, and one-line errors for a wrong format or layout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from reid_cli.main import app
from typer.testing import CliRunner

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reid_cli.main", *args], capture_output=True, text=True, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in lines[0], lines[0]


@pytest.fixture()
def scenario(tmp_path: Path) -> tuple[Path, Path]:
    """A CityFlow scenario with truth in two cameras, and predictions that lose vehicle 2 in camera c002."""
    gt, pred = tmp_path / "S01", tmp_path / "pred"
    pred.mkdir()
    for cam in ("c001", "c002"):
        (gt / cam / "gt").mkdir(parents=True)
        lines = [f"{f},{v},{10 + 5 * f},{30 * v},40,20,1,-1,-1,-1" for f in range(1, 9) for v in (1, 2)]
        (gt / cam / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
        kept = [line for line in lines if cam == "c001" or line.split(",")[1] == "1"]
        (pred / f"{cam}.txt").write_text("\n".join(kept) + "\n")
    return pred, gt


def test_mot_table_and_json_carry_hota(scenario: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = scenario
    out = tmp_path / "mot.json"
    result = runner.invoke(app, ["eval", "mot", "--pred", str(pred), "--gt", str(gt), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "HOTA" in result.output and "AssA" in result.output and "overall" in result.output
    doc = json.loads(out.read_text())
    assert doc["c001"]["hota"] == pytest.approx(1.0) and doc["c002"]["deta"] == pytest.approx(0.5)
    assert set(doc) == {"c001", "c002", "OVERALL"} and doc["OVERALL"]["idtp"] == 24


def test_mtmc_reads_an_aic_submission(scenario: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = scenario
    submission = tmp_path / "track1.txt"
    submission.write_text("".join(f"{int(cam[1:])} {r[1]} {r[0]} {r[2]} {r[3]} 40 20 -1 -1\n"
                                  for cam in ("c001", "c002")
                                  for r in (line.split(",") for line in (pred / f"{cam}.txt").read_text().split())))
    docs = []
    for args in (["--pred", str(pred)], ["--pred", str(submission), "--format", "aic"]):
        out = tmp_path / f"m{len(docs)}.json"
        result = runner.invoke(app, ["eval", "mtmc", *args, "--gt", str(gt), "--json", str(out)])
        assert result.exit_code == 0, result.output
        assert "HOTA" in result.output and "c002" in result.output
        docs.append(json.loads(out.read_text()))
    assert "ceiling" in docs[0]  # the linking ceiling needs the MOT files of a run, not a submission
    docs[0].pop("ceiling")
    assert docs[0] == docs[1]
    assert docs[0]["per_camera"]["c001"]["hota"] == pytest.approx(1.0)
    assert docs[0]["deta"] == pytest.approx(24 / 32) and docs[0]["idtp"] == 24


def test_wrong_format_or_layout_is_one_line(scenario: tuple[Path, Path], tmp_path: Path) -> None:
    pred, gt = scenario
    one_line_error(run_cli("eval", "mtmc", "--pred", str(pred), "--gt", str(gt), "--format", "csv"), "--format")
    one_line_error(run_cli("eval", "mtmc", "--pred", str(pred), "--gt", str(gt), "--format", "aic"),
                   "is a folder, not an AI City file")
    (pred / "c001.txt").write_text("0,1,0,0,10,10,1,-1,-1,-1\n")
    one_line_error(run_cli("eval", "mot", "--pred", str(pred), "--gt", str(gt)), "frame 0 is below 1")


def test_track_aic_export_of_one_camera(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
    from synthetic import write_video

    video = write_video(tmp_path / "cam7.mp4", 30)
    submission = tmp_path / "track1.txt"
    result = runner.invoke(app, ["track", str(video), "--detector", "motion", "--no-reid", "--out",
                                 str(tmp_path / "run"), "--aic-export", str(submission)])
    assert result.exit_code == 0, result.output
    lines = submission.read_text().splitlines()
    mot = (tmp_path / "run" / "mot" / "cam7.txt").read_text().splitlines()
    assert len(lines) == len(mot) > 0 and all(line.split()[0] == "7" for line in lines)
    # a camera without a number is refused before any tracking
    proc = run_cli("track", str(video), "--detector", "motion", "--no-reid", "--camera", "street", "--out",
                   str(tmp_path / "other"), "--aic-export", str(tmp_path / "x.txt"))
    one_line_error(proc, "has no number")
    assert not (tmp_path / "other").exists()
    proc = run_cli("track", str(video), "--detector", "motion", "--no-reid", "--out", str(tmp_path / "other"),
                   "--aic-export", str(tmp_path))
    one_line_error(proc, "is a folder")
    assert not (tmp_path / "other").exists()


def test_folder_aic_export_refuses_unnumbered_cameras_first(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for name in ("north", "south"):
        (site / f"{name}.mp4").write_bytes(b"never opened")
    proc = run_cli("track", str(site), "--out", str(tmp_path / "run"), "--aic-export", str(tmp_path / "x.txt"))
    one_line_error(proc, "camera 'north' has no number")
    assert not (tmp_path / "run").exists()
