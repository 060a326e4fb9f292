"""Linking on rendered synthetic scenes (``reid.synth.scene``): travel windows learned from a scene's own timing,
and a camera-folder run whose threshold comes from the footage, scored against the truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reid.gallery.config import LinkConfig
from reid.gallery.linker import Sighting, link

pytestmark = pytest.mark.slow


def scene_sightings(scene: Path, seed: int = 0, noise: float = 0.7, dim: int = 32) -> tuple[list[Sighting], dict]:
    """One sighting per vehicle and camera from the ground truth (times of its first and last box), with a
    simulated vector (the vehicle's own direction plus noise); and the travel gaps of each adjacent pair."""
    from reid.evaluation.mtmc import read_mot

    meta = json.loads((scene / "scene.json").read_text())
    fps = float(meta["fps"])
    rng = np.random.default_rng(seed)
    identity: dict[int, np.ndarray] = {}
    sightings, passes = [], {}
    for cam in meta["cameras"]:
        gt = read_mot(scene / "gt" / f"{cam}.txt")
        for gid in np.unique(gt[:, 1]).astype(int):
            frames = gt[gt[:, 1] == gid, 0]
            t0, t1 = (frames.min() - 1) / fps, (frames.max() - 1) / fps
            v = identity.setdefault(gid, rng.standard_normal(dim))
            f = v / np.linalg.norm(v) + noise * rng.standard_normal(dim) / np.sqrt(dim)
            sightings.append(Sighting(cam, float(t0), float(t1), (f / np.linalg.norm(f)).astype(np.float32),
                                      key=(cam, int(gid))))
            passes.setdefault(int(gid), []).append((float(t0), float(t1), cam))
    gaps: dict[tuple[str, str], list[float]] = {}
    for route in passes.values():
        route.sort()
        for (_, end, a), (start, _, b) in zip(route, route[1:], strict=False):
            gaps.setdefault(tuple(sorted((a, b))), []).append(start - end)
    return sightings, gaps


def test_learned_windows_contain_the_true_ones_on_a_rendered_scene(tmp_path: Path) -> None:
    import yaml

    from reid.synth.scene import write_scene

    write_scene(tmp_path / "scene", cameras=3, vehicles=60, seconds=90.0, fps=8.0, size=(320, 180), seed=5)
    sightings, gaps = scene_sightings(tmp_path / "scene")
    report = link(sightings, LinkConfig()).report
    assert report.travel_source == "learned"
    learned = {(w.a, w.b): w for w in report.travel.links()}
    truth = yaml.safe_load((tmp_path / "scene" / "cameras.yaml").read_text())["links"]
    for link_doc in truth:
        pair = (link_doc["a"], link_doc["b"])
        assert pair in learned, (pair, sorted(learned))
        w = learned[pair]
        # the learned window holds the travel times of nine in ten of the scene's vehicles on that link (a lone
        # much slower or faster one may fall outside: the prior is soft) and lies within the generator's window
        # widened by a quarter
        took = np.asarray(gaps[pair])
        assert np.mean((took >= w.lo) & (took <= w.hi)) >= 0.9, (pair, w, np.sort(took))
        width = link_doc["max_travel"] - link_doc["min_travel"]
        assert w.lo >= link_doc["min_travel"] - 0.25 * width and w.hi <= link_doc["max_travel"] + 0.25 * width


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A small scene tracked and linked with no cameras.yaml and no threshold: what a new user runs."""
    import os
    import shutil

    from reid.demo import DemoSettings, train_demo_network
    from reid.multicam.runner import run_camera_folder
    from reid.synth.scene import write_scene
    from reid.video.config import TrackConfig

    root = tmp_path_factory.mktemp("scene-linking")
    os.environ.setdefault("REID_CACHE_DIR", str(root / "cache"))
    settings = DemoSettings(train_ids=60, epochs=3, device="cpu")
    checkpoint, _ = train_demo_network(root, settings)
    scene = root / "scene"
    write_scene(scene, cameras=3, vehicles=30, seconds=60.0, fps=8.0, size=(320, 180), seed=7)
    cams = root / "cams"
    cams.mkdir()
    for video in scene.glob("cam*.mp4"):
        shutil.copyfile(video, cams / video.name)
    track = TrackConfig(detector="motion", reid_weights=str(checkpoint), device="cpu")
    result = run_camera_folder(cams, root / "run", track, LinkConfig(), workers=1, report=False)
    return {"root": root, "scene": scene, "result": result}


def test_self_calibration_scores_near_calibrating_on_the_truth(tracked: dict) -> None:
    from reid.gallery.calibrate import calibrate_run

    result, scene = tracked["result"], tracked["scene"]
    chosen = result.linking["threshold"]
    assert chosen["source"] == "self" and chosen["pairs"] >= 10 and chosen["matches"] >= 10, chosen
    truth = calibrate_run(result.out_dir, scene / "gt", LinkConfig())
    at_chosen = calibrate_run(result.out_dir, scene / "gt", LinkConfig(), thresholds=[chosen["threshold"]])
    assert at_chosen.best.idf1 >= truth.best.idf1 - 0.08, (chosen["threshold"], at_chosen.best, truth.best)


def test_run_reports_its_linking_and_writes_the_learned_windows(tracked: dict) -> None:
    from reid.cameras import load_cameras

    result = tracked["result"]
    doc = json.loads(result.identities_path.read_text())
    assert doc["linking"] == result.linking
    assert doc["linking"]["camera_bias"] is True
    if result.linking["travel"]["source"] == "learned":
        cams = load_cameras(result.learned_cameras)
        assert sorted(cams.cameras) == ["cam1", "cam2", "cam3"]
        assert {(x.a, x.b) for x in cams.links} == {(w["a"], w["b"]) for w in doc["linking"]["travel"]["links"]}
    else:
        assert result.learned_cameras is None and not (result.out_dir / "cameras.yaml").exists()
