"""``reid gallery info/export/search`` and ``reid eval mtmc`` from the command line, and their one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reid_cli.main import app
from typer.testing import CliRunner

from reid.gallery.gallery import Gallery
from reid.gallery.store import StoredTracklet

runner = CliRunner()


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reid_cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert needle in lines[0]


def build(root: Path, embedder: str = "net-A", vectors: np.ndarray | None = None) -> Path:
    rng = np.random.default_rng(0)
    vecs = vectors if vectors is not None else rng.standard_normal((3, 16)).astype(np.float32)
    vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    rows = [StoredTracklet(row_id=-1, camera=f"cam{i % 2 + 1}", track_id=i + 1, cls=2, first_frame=0,
                           last_frame=9, t_start=10.0 * i, t_end=10.0 * i + 3, num_boxes=10, identity=i + 1, run="",
                           crops=[f"/data/crops/{i}.jpg"], feature=v) for i, v in enumerate(vecs)]
    with Gallery.open(root, embedder=embedder, dim=vecs.shape[1]) as g:
        g.add_run("r1", "src", {"cam1": {"fps": 10.0}, "cam2": {"fps": 10.0}}, rows, [r.identity for r in rows])
    return root


def test_info_and_export(tmp_path: Path) -> None:
    root = build(tmp_path / "g")
    result = runner.invoke(app, ["gallery", "info", str(root)])
    assert result.exit_code == 0, result.output
    assert "net-A" in result.output and "cam1, cam2" in result.output and "wal" in result.output
    csv = tmp_path / "out.csv"
    result = runner.invoke(app, ["gallery", "export", str(root), "--csv", str(csv)])
    assert result.exit_code == 0, result.output
    assert len(csv.read_text().splitlines()) == 4


def test_errors_are_one_line(tmp_path: Path) -> None:
    one_line_error(run_cli("gallery", "info", str(tmp_path / "missing")), "does not exist")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "gallery.sqlite").write_bytes(b"garbage" * 20)
    one_line_error(run_cli("gallery", "info", str(tmp_path / "foreign")), "not a SQLite database")


def test_eval_mtmc_command(tmp_path: Path) -> None:
    for name in ("gt", "pred"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "c1.txt").write_text("1,1,10,10,20,20,1,-1,-1,-1\n2,1,12,10,20,20,1,-1,-1,-1\n")
    out = tmp_path / "m.json"
    result = runner.invoke(app, ["eval", "mtmc", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt"),
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "100.0" in result.output and out.is_file()
    one_line_error(run_cli("eval", "mtmc", "--pred", str(tmp_path / "nope"), "--gt", str(tmp_path / "gt")),
                   "does not exist")


@pytest.mark.slow
def test_search_finds_the_image_and_refuses_another_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2
    import torch

    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model
    from reid.models.inference import CropEmbedder

    monkeypatch.setenv("REID_CACHE_DIR", str(tmp_path / "cache"))
    torch.manual_seed(0)
    cfg = ModelConfig(arch="resnet18", pretrained="none", input_size=(64, 64), embedding_dim=32)
    ckpt = save_checkpoint(tmp_path / "net.pt", make_checkpoint(build_model(cfg).eval(), cfg))
    images = [np.random.default_rng(i).integers(0, 255, (48, 64, 3), dtype=np.uint8) for i in range(3)]
    for i, img in enumerate(images):
        cv2.imwrite(str(tmp_path / f"v{i}.png"), img)
    embedder = CropEmbedder.from_checkpoint(ckpt, device="cpu")
    root = build(tmp_path / "g", embedder=embedder.identity, vectors=embedder.embed(images))
    result = runner.invoke(app, ["gallery", "search", str(tmp_path / "v2.png"), "--gallery", str(root),
                                 "--reid-weights", str(ckpt), "-k", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in result.output.splitlines() if "│" in line]
    # the image itself was stored as track 3 (camera cam1, global id 3): it comes first, similarity 1
    assert rows[0][:4] == ["1", "1.000", "3", "cam1"]
    other = build(tmp_path / "other", embedder="some-other-network", vectors=embedder.embed(images))
    one_line_error(run_cli("gallery", "search", str(tmp_path / "v0.png"), "--gallery", str(other),
                           "--reid-weights", str(ckpt), "--device", "cpu"), "was built with")
