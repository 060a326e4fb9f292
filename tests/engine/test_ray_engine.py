"""--engine ray: a camera folder on a local Ray cluster (2 CPUs) gives the outputs of the local engine, also
when a worker is killed in the middle of a camera; live cameras run as actors; without Ray, a clear line."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest


def test_engine_ray_without_ray_installed_is_one_clear_line(monkeypatch, reid_main, tmp_path: Path) -> None:
    from reid.engine.ray import import_ray
    from reid.errors import ConfigError

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ConfigError, match=r'pip install "reid\[ray\]"'):
        import_ray()
    cams = tmp_path / "cams"
    cams.mkdir()
    (cams / "c1.mp4").write_bytes(b"")
    code, _, err = reid_main("track", str(cams), "--out", str(tmp_path / "out"), "--engine", "ray",
                             "--detector", "motion")
    assert code == 2 and "Traceback" not in err


pytestmark_slow = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> dict:
    import torch

    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model
    from reid.synth.scene import write_scene

    root = tmp_path_factory.mktemp("ray")
    os.environ.setdefault("REID_CACHE_DIR", str(root / "cache"))
    write_scene(root / "scene", cameras=3, vehicles=6, seconds=10.0, fps=8.0, size=(256, 144), seed=2)
    torch.manual_seed(0)
    cfg = ModelConfig(arch="resnet18", pretrained="none", embedding_dim=32, input_size=(64, 64))
    ckpt = save_checkpoint(root / "random.pt", make_checkpoint(build_model(cfg).eval(), cfg))
    return {"root": root, "scene": root / "scene", "ckpt": ckpt}


def run(folder: dict, out: Path, engine: str, workers: int | None = None):
    from reid.gallery.config import LinkConfig
    from reid.multicam.runner import run_camera_folder
    from reid.video.config import TrackConfig

    track = TrackConfig(detector="motion", reid_weights=str(folder["ckpt"]), device="cpu",
                        engine={"name": engine, "num_cpus_per_camera": 1, "max_retries": 3})
    return run_camera_folder(folder["scene"], out, track, LinkConfig(threshold=0.8), workers=workers)


def outputs(out: Path) -> dict:
    """What must not depend on the engine: MOT files, identities.json (without paths and the run key), and the
    gallery's tracklets (vectors to 1e-5)."""
    from reid.gallery.gallery import Gallery

    doc = json.loads((out / "identities.json").read_text())
    for key in ("run", "source", "gallery"):
        doc.pop(key)
    with Gallery.open(out / "gallery", create=False) as g:
        rows = sorted((t.camera, t.track_id, t.identity, round(t.t_start, 4), round(t.t_end, 4),
                       tuple(np.round(t.feature, 5))) for t in g.tracklets())
    mot = {p.name: p.read_text() for p in sorted((out / "mot").glob("*.txt"))}
    return {"identities": doc, "gallery": rows, "mot": mot}


@pytest.fixture(scope="module")
def local_run(folder: dict, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("local") / "out"
    run(folder, out, "local", workers=2)
    return outputs(out)


@pytest.mark.slow
def test_a_camera_folder_on_ray_gives_the_outputs_of_the_local_engine(ray_cluster, folder, local_run,
                                                                     tmp_path: Path) -> None:
    result = run(folder, tmp_path / "out", "ray")
    assert len(result.cameras) == 3
    assert outputs(tmp_path / "out") == local_run


@pytest.mark.slow
def test_a_worker_killed_in_the_middle_of_a_camera_is_retried_with_the_same_outputs(ray_cluster, folder,
                                                                                    local_run, tmp_path: Path):
    killed: list[int] = []

    def running_camera_tasks() -> list[int]:
        """Ray names a worker process after the task it runs (``ray::_batch_task``)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if b"ray::_batch_task" in (entry / "cmdline").read_bytes():
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    def kill_one() -> None:
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            pids = running_camera_tasks()
            if pids:
                time.sleep(0.3)  # in the middle of the camera (the first one loads the network), not before it starts
                for pid in running_camera_tasks()[:1]:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.2)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    result = run(folder, tmp_path / "out", "ray")
    killer.join(5)
    assert killed, "no camera task was seen running"
    assert len(result.cameras) == 3
    assert outputs(tmp_path / "out") == local_run


@pytest.mark.slow
def test_live_cameras_run_as_ray_actors(ray_cluster, folder, tmp_path: Path) -> None:
    import yaml

    from reid.engine.ray import RayEngine
    from reid.live.config import LiveConfig
    from reid.live.run import LiveHooks, LiveOptions, run_live

    sources = tmp_path / "sources.yaml"
    sources.write_text(yaml.safe_dump({"kind": "cameras", "cameras": {
        c: {"source": str(folder["scene"] / f"{c}.mp4")} for c in ("cam1", "cam2")}}))
    cfg = LiveConfig.model_validate({"track": {"detector": "motion", "reid_weights": str(folder["ckpt"]),
                                               "device": "cpu"}, "file_speed": 2.0,
                                     "engine": {"name": "ray", "num_cpus_per_camera": 1}})
    result = run_live(LiveOptions(sources, tmp_path / "out"), cfg, LiveHooks(engine=RayEngine(cfg.engine)))
    assert set(result.cameras) == {"cam1", "cam2"} and not result.failures
    events = [json.loads(line) for line in (tmp_path / "out" / "events.jsonl").read_text().splitlines()]
    assert events and {e["camera"] for e in events} == {"cam1", "cam2"}
    crops = [Path(tmp_path / "out" / c) for e in events for c in e["crops"]]
    assert crops and all(p.is_file() for p in crops)  # crops travelled inside the events


@pytest.mark.slow
def test_embedding_a_dataset_on_ray_gives_the_local_embeddings(ray_cluster, folder, tmp_path: Path) -> None:
    from reid.data.datasets import read_dataset
    from reid.engine.config import EngineConfig
    from reid.engine.ray import embed_records_on_ray
    from reid.models.inference import embed_records
    from reid.synth.vehicleid import write_vehicleid

    write_vehicleid(tmp_path / "vid", num_train_ids=4, num_test_ids=8, size=(64, 64), seed=1)
    records = list(read_dataset("vehicleid", tmp_path / "vid", "large"))
    local = embed_records(records, str(folder["ckpt"]), device="cpu", num_workers=0)
    remote = embed_records_on_ray(records, str(folder["ckpt"]), "cpu", 64, EngineConfig(name="ray"), chunk=7)
    assert remote.shape == local.shape and np.allclose(remote, local, atol=1e-5)
