"""Camera worker processes never outlive the main process: after a ``kill -9`` of ``reid track CAMERAS_DIR``
every worker exits within seconds and nothing more is written into the output folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "video"))
from synthetic import write_video  # noqa: E402

pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    """Every living descendant of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in root.rglob("*"):
        try:
            st = p.lstat()
        except FileNotFoundError:
            continue
        out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def test_kill_9_of_the_main_process_takes_every_worker_with_it(tmp_path: Path) -> None:
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc")
    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model

    cams = tmp_path / "cams"
    cams.mkdir()
    for name in ("north", "south"):
        write_video(cams / f"{name}.mp4", 4000)
    cfg = ModelConfig(arch="resnet18", pretrained="none", embedding_dim=32, input_size=(64, 64))
    ckpt = save_checkpoint(tmp_path / "random.pt", make_checkpoint(build_model(cfg), cfg))
    out = tmp_path / "out"
    workers: set[int] = set()
    env = {**os.environ, "REID_CACHE_DIR": str(tmp_path / "cache")}
    main = subprocess.Popen([sys.executable, "-m", "reid_cli.main", "track", str(cams), "--out", str(out),
                             "--detector", "motion", "--reid-weights", str(ckpt), "--workers", "2",
                             "--device", "cpu"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.time() + 240
        statuses = [out / "cameras" / name / "status.json" for name in ("north", "south")]
        while not all(p.is_file() for p in statuses):
            assert main.poll() is None, main.stderr.read().decode() if main.stderr else ""
            assert time.time() < deadline, "the camera workers never started"
            time.sleep(0.2)
        workers = descendants(main.pid)
        assert len(workers) >= 2
        main.send_signal(signal.SIGKILL)
        main.wait()
        deadline = time.time() + 10
        while any(alive(p) for p in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not [p for p in workers if alive(p)], "workers outlived the killed main process"
        before = snapshot(out)
        time.sleep(2.0)
        assert snapshot(out) == before, "something still writes into --out"
    finally:
        if main.poll() is None:
            main.kill()
        for pid in workers:  # never leave a stray process behind, even when the test fails
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
