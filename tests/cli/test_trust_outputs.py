"""`reid track` as a hostile or unlucky user runs it: output folders that overlap inputs, names that try to leave
the output folder, --overwrite next to the user's own files, a full disk, a read-only disk, a folder the user may
not write, SIGTERM mid-run, and options that do not apply to one video."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
from synthetic import write_video  # noqa: E402
from tests_support import as_nobody, small_tmpfs  # noqa: E402

TRACK = ["--detector", "motion", "--no-reid"]


def run_cli(*args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), sys.executable, "-m", "reid_cli.main", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if line.startswith("error:")]
    assert len(errors) == 1, result.stderr  # one red line (rich may wrap it; progress bars may precede it)
    text = " ".join(" ".join(lines[errors[0]:]).split())
    for needle in needles:
        assert needle in text, result.stderr


def listing(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("trust")
    return write_video(root / "street.mp4", 30)


def test_out_that_contains_the_camera_folder_is_refused_and_nothing_is_deleted(video: Path, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    cams = proj / "cameras"
    cams.mkdir(parents=True)
    for name in ("c1", "c2"):
        (cams / f"{name}.mp4").write_bytes(video.read_bytes())
    before = listing(proj)
    result = run_cli("track", str(cams), "--out", str(proj), "--overwrite", *TRACK)
    assert_one_line_error(result, "contains the input")
    assert listing(proj) == before
    inside = run_cli("track", str(cams), "--out", str(cams / "run"), *TRACK)
    assert_one_line_error(inside, "lies inside the input")
    assert listing(proj) == before


def test_out_that_contains_the_video_is_refused(video: Path, tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    clip = proj / "clip.mp4"
    clip.write_bytes(video.read_bytes())
    assert_one_line_error(run_cli("track", str(clip), "--out", str(proj), "--overwrite", *TRACK), "contains the input")
    assert clip.read_bytes() == video.read_bytes() and sorted(p.name for p in proj.iterdir()) == ["clip.mp4"]


def test_camera_name_cannot_write_outside_out(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out"
    result = run_cli("track", str(video), "--out", str(out), "--camera", "../../../x", *TRACK)
    assert result.returncode == 0, result.stderr
    assert (out / "mot" / "x.txt").is_file()
    outside = [p for p in tmp_path.rglob("*") if out not in p.parents and p != out and p not in out.parents]
    assert outside == [], outside


def test_overwrite_keeps_the_users_files_and_replaces_ours(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("track", str(video), "--out", str(out), *TRACK).returncode == 0
    (out / "notes.txt").write_text("my notes")
    (out / "mot" / "my-ground-truth.txt").write_text("1,1,0,0,1,1,1,-1,-1,-1\n")
    result = run_cli("track", str(video), "--out", str(out), "--overwrite", *TRACK)
    assert result.returncode == 0, result.stderr
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "mot" / "my-ground-truth.txt").exists()
    assert json.loads((out / "status.json").read_text())["cameras"]["street"]["state"] == "complete"


def test_a_foreign_file_under_an_output_name_is_refused(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "status.json").write_text("the user's own file")
    assert_one_line_error(run_cli("track", str(video), "--out", str(out), "--overwrite", *TRACK),
                          "not written by reid")
    assert (out / "status.json").read_text() == "the user's own file"


def test_a_link_inside_out_is_not_followed(video: Path, tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    assert run_cli("track", str(video), "--out", str(out), *TRACK).returncode == 0
    elsewhere.mkdir()
    for p in (out / "mot").iterdir():
        p.unlink()
    (out / "mot").rmdir()
    (out / "mot").symlink_to(elsewhere, target_is_directory=True)
    result = run_cli("track", str(video), "--out", str(out), "--overwrite", *TRACK)
    assert result.returncode == 0, result.stderr
    assert list(elsewhere.iterdir()) == []
    assert (out / "mot").is_dir() and not (out / "mot").is_symlink()


@pytest.mark.parametrize("flag", [["--gallery", "g"], ["--link-threshold", "0.5"], ["--workers", "2"],
                                  ["--cameras-yaml", "c.yaml"], ["--link-config", "l.yaml"]])
def test_options_for_a_folder_of_cameras_are_refused_for_one_video(video: Path, tmp_path: Path,
                                                                    flag: list[str]) -> None:
    out = tmp_path / "out"
    assert_one_line_error(run_cli("track", str(video), "--out", str(out), *TRACK, *flag),
                          flag[0], "only to a folder of cameras")
    assert not out.exists()


def test_full_disk_is_one_line_with_the_free_space_and_no_video_that_looks_whole(video: Path,
                                                                                   tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "tiny", "48k") as tiny:
        out = tiny / "out"
        result = run_cli("track", str(video), "--out", str(out), *TRACK, "--save-video")
        assert_one_line_error(result, "free")
        assert not (out / "video" / "street.mp4").exists()
        status = json.loads((out / "status.json").read_text())
        assert status["complete"] is False and status["cameras"]["street"]["state"] != "complete"


def test_read_only_disk_is_one_line(video: Path, tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "ro", "64k", read_only=True) as ro:
        assert_one_line_error(run_cli("track", str(video), "--out", str(ro / "out"), *TRACK), "read-only")


def test_folder_the_user_may_not_write_is_one_line(video: Path, tmp_path: Path) -> None:
    prefix = as_nobody()
    shared = Path("/tmp") / f"reid-perm-{os.getpid()}"
    shared.mkdir(mode=0o755, exist_ok=True)
    try:
        clip = shared / "clip.mp4"
        clip.write_bytes(video.read_bytes())
        clip.chmod(0o644)
        locked = shared / "locked"
        locked.mkdir(mode=0o555, exist_ok=True)
        home = shared / "home"
        home.mkdir(mode=0o777, exist_ok=True)
        home.chmod(0o777)
        env = {"HOME": str(home), "YOLO_CONFIG_DIR": str(home), "REID_CACHE_DIR": str(home)}
        result = run_cli("track", str(clip), "--out", str(locked / "out"), *TRACK, env=env, prefix=prefix)
        assert_one_line_error(result, "Permission denied")
        assert list(locked.iterdir()) == []
    finally:
        import shutil

        shutil.rmtree(shared, ignore_errors=True)


@pytest.mark.slow
def test_sigterm_mid_run_stops_cleanly_and_marks_the_camera_interrupted(tmp_path: Path) -> None:
    long_video = write_video(tmp_path / "long.mp4", 6000)  # several seconds of work: the signal lands mid-run
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "reid_cli.main", "track", str(long_video), "--out", str(out),
                             *TRACK], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            status = out / "status.json"
            if status.is_file() and "running" in status.read_text():
                break
            time.sleep(0.1)
        time.sleep(0.5)
        assert proc.poll() is None, "the run ended before the signal: make the video longer"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    entry = json.loads((out / "status.json").read_text())["cameras"]["long"]
    assert entry["state"] == "interrupted"
    assert not (out / "mot" / "long.txt").exists()  # no MOT file that looks complete


def test_a_running_status_of_a_dead_process_reads_as_interrupted(tmp_path: Path) -> None:
    from reid.video.writers import read_status, running_entry, update_status

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    entry = running_entry("cam.mp4") | {"pid": child.pid}
    update_status(tmp_path, "cam", entry)
    assert read_status(tmp_path)["cameras"]["cam"]["state"] == "interrupted"
    update_status(tmp_path, "cam", running_entry("cam.mp4"))  # this process: still running
    assert read_status(tmp_path)["cameras"]["cam"]["state"] == "running"
