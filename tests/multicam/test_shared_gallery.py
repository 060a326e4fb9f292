"""Two ``reid track`` runs of camera folders that write one --gallery at the same time both succeed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_two_concurrent_runs_share_one_gallery(tmp_path: Path) -> None:
    from reid.gallery.gallery import Gallery
    from reid.gallery.store import content_digest
    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model
    from reid.synth.scene import write_scene

    cfg = ModelConfig(arch="resnet18", pretrained="none", input_size=(64, 64), embedding_dim=32)
    save_checkpoint(tmp_path / "net.pt", make_checkpoint(build_model(cfg), cfg))
    gallery = tmp_path / "gallery"
    procs = []
    for k in (1, 2):
        write_scene(tmp_path / f"site{k}", cameras=2, vehicles=3, seconds=6.0, fps=8.0, size=(192, 108), seed=k)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "reid_cli.main", "track", str(tmp_path / f"site{k}"), "--out",
             str(tmp_path / f"out{k}"), "--gallery", str(gallery), "--detector", "motion", "--reid-weights",
             str(tmp_path / "net.pt"), "--device", "cpu", "--workers", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out + err
        assert "IntegrityError" not in out + err and "Traceback" not in out + err
    with Gallery.open(gallery, create=False) as g:
        assert g.info()["runs"] == 2
        stored = {(t.run, t.camera, t.track_id): t.identity for t in g.tracklets(with_features=False)}
        ids, vectors = g.store.vectors()
        assert g.index.ntotal == len(ids) > 0 and g.index.content_digest() == content_digest(ids, vectors)
    for k in (1, 2):
        doc = json.loads((tmp_path / f"out{k}" / "identities.json").read_text())
        mine = {(doc["run"], s["camera"], s["track_id"]): i["global_id"]
                for i in doc["identities"] for s in i["sightings"]}
        assert {key: gid for key, gid in mine.items() if key in stored} == {
            key: gid for key, gid in stored.items() if key[0] == doc["run"]}
