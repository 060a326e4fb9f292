"""A synthetic 3-camera scene end to end with a network trained here: cross-camera IDF1 above chance, resume
after an interruption, a later camera linked against a saved gallery, and the report in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reid.demo import DemoSettings, chance_idf1, train_demo_network
from reid.errors import GalleryError
from reid.gallery.config import LinkConfig
from reid.gallery.gallery import Gallery

pytestmark = pytest.mark.slow

SETTINGS = DemoSettings(vehicles=8, seconds=20.0, fps=8.0, size=(320, 180), train_ids=60, epochs=2, device="cpu")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import os

    from reid.cameras import load_cameras
    from reid.gallery.calibrate import calibrate_run
    from reid.multicam.runner import run_camera_folder
    from reid.synth.scene import write_scene
    from reid.video.config import TrackConfig

    root = tmp_path_factory.mktemp("e2e")
    os.environ.setdefault("REID_CACHE_DIR", str(root / "cache"))
    checkpoint, _ = train_demo_network(root, SETTINGS)
    s = SETTINGS
    scene = root / "scene"
    write_scene(scene, cameras=3, vehicles=s.vehicles, seconds=s.seconds, fps=s.fps, size=s.size, seed=3)
    calib = root / "calib"
    write_scene(calib, cameras=3, vehicles=s.vehicles, seconds=s.seconds, fps=s.fps, size=s.size, seed=4)
    track = TrackConfig(detector="motion", reid_weights=str(checkpoint), device="cpu")
    run_camera_folder(calib, root / "calib-run", track, LinkConfig(min_revisit=60.0), workers=1, report=False)
    base = LinkConfig(min_revisit=60.0)  # a vehicle passes each camera of these scenes once
    cal = calibrate_run(root / "calib-run", calib / "gt", base, load_cameras(calib / "cameras.yaml"))
    link = base.model_copy(update={"threshold": cal.best.threshold})
    reference = run_camera_folder(scene, root / "reference", track, link, workers=2)
    return {"root": root, "scene": scene, "track": track, "link": link, "reference": reference}


def test_cross_camera_idf1_clearly_above_chance(world: dict) -> None:
    from reid.evaluation.mtmc import evaluate_mtmc

    ref = world["reference"]
    metrics = evaluate_mtmc(ref.out_dir / "mot", world["scene"] / "gt")
    chance = chance_idf1(ref.out_dir, world["scene"] / "gt", repeats=5)
    assert metrics.idf1 > chance + 0.1, (metrics.idf1, chance)
    assert ref.cross_camera >= 1


def _outputs(out: Path) -> dict:
    doc = json.loads((out / "identities.json").read_text())
    for ident in doc["identities"]:
        for s in ident["sightings"]:
            s["crops"] = [Path(c).name for c in s["crops"]]
    mot = {p.name: p.read_text() for p in sorted((out / "mot").glob("*.txt"))}
    return {"identities": doc["identities"], "cameras": {k: v["frames"] for k, v in doc["cameras"].items()},
            "mot": mot}


def test_interrupted_run_resumes_to_the_same_outputs(world: dict) -> None:
    from reid.multicam.runner import run_camera_folder

    out = world["root"] / "interrupted"
    seen: list[str] = []

    def stop_at_second_camera(done, total=None, camera=None, **info):  # noqa: ANN001
        if camera is not None and camera not in seen:
            seen.append(camera)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_camera_folder(world["scene"], out, world["track"], world["link"], workers=1,
                          progress=stop_at_second_camera)
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["cameras"]) == ["cam1"] and not manifest["linked"]
    assert not (out / "identities.json").exists()  # nothing that looks like a finished run
    resumed = run_camera_folder(world["scene"], out, world["track"], world["link"], workers=1)
    assert [c.resumed for c in resumed.cameras] == [True, False, False]
    assert _outputs(out) == _outputs(world["reference"].out_dir)


def test_camera_added_later_keeps_gallery_ids(world: dict) -> None:
    import yaml

    from reid.multicam.runner import run_camera_folder

    scene, root = world["scene"], world["root"]
    cams = yaml.safe_load((scene / "cameras.yaml").read_text())
    first, later = root / "first", root / "later"
    for folder, names in ((first, ["cam1", "cam2"]), (later, ["cam3"])):
        folder.mkdir()
        for name in names:
            shutil.copyfile(scene / f"{name}.mp4", folder / f"{name}.mp4")
        sub = {"kind": "cameras", "cameras": {n: cams["cameras"][n] for n in names},
               "links": [lk for lk in cams.get("links", []) if lk["a"] in names and lk["b"] in names]}
        (folder / "cameras.yaml").write_text(yaml.safe_dump(sub))
    gallery = root / "shared-gallery"
    run_camera_folder(first, root / "out-first", world["track"], world["link"], gallery_dir=gallery, workers=1)
    with Gallery.open(gallery, create=False) as g:
        before = {(t.camera, t.track_id): t.identity for t in g.tracklets(with_features=False)}
        max_before = g.next_identity() - 1
    result = run_camera_folder(later, root / "out-later", world["track"], world["link"], gallery_dir=gallery,
                               workers=1)
    with Gallery.open(gallery, create=False) as g:
        rows = g.tracklets(with_features=False)
        after = {(t.camera, t.track_id): t.identity for t in rows if t.camera != "cam3"}
        new = {t.identity for t in rows if t.camera == "cam3"}
        assert g.info()["runs"] == 2
    assert after == before  # stored identities never change
    fresh = new - set(before.values())
    assert all(gid > max_before for gid in fresh)
    doc = json.loads(result.identities_path.read_text())
    assert {i["global_id"] for i in doc["identities"] if i["known_before"]} == new & set(before.values())


def test_other_network_refused_before_tracking(world: dict, tmp_path: Path) -> None:
    from reid.multicam.runner import run_camera_folder

    Gallery.open(tmp_path / "g", embedder="another-network", dim=128).close()
    with pytest.raises(GalleryError, match="another-network"):
        run_camera_folder(world["scene"], tmp_path / "out", world["track"], world["link"],
                          gallery_dir=tmp_path / "g", workers=1)
    assert not (tmp_path / "out" / "tracklets").exists()


def test_report_renders_every_identity_in_chromium(world: dict) -> None:
    binary = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install -y chromium); .ci/run installs it")
    ref = world["reference"]
    doc = json.loads(ref.identities_path.read_text())
    proc = subprocess.run(
        [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={world['root'] / 'chromium-profile'}", "--dump-dom", ref.report_path.as_uri()],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(re.findall(r'<tr class="identity"', proc.stdout)) == len(doc["identities"]) > 0
    assert proc.stdout.count("data:image/jpeg;base64,") >= len(doc["identities"])
