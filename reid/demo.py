"""``reid demo``: the whole pipeline offline on a fresh machine, on synthetic data, in a few minutes of CPU.

1. a small labelled 3-camera scene (videos, ground truth with global ids, ``cameras.yaml``);
2. a small PNP network trained on *other* synthetic vehicles (a VehicleID-layout dataset), so the scene's
   vehicles are never seen in training;
3. the linking threshold calibrated on a second, independent scene (never on the one that is scored);
4. the scene tracked with the motion detector, linked across cameras, scored with cross-camera IDF1, and
   written out with ``report.html``.

Every step keeps its result in the demo folder and is reused on the next run (the network is not trained
again, finished cameras are not tracked again), so ``reid demo`` twice costs the first run once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from reid.config import ConfigModel
from reid.errors import OutputError
from reid.io import atomic_write_json, atomic_write_text

Progress = Callable[..., None]
MARKER = "demo.json"


class DemoSettings(ConfigModel):
    """Sizes of the demo (small enough for 2 CPU cores). ``seed`` makes everything repeatable.

    A YAML file of ``kind: demo`` (see ``configs/demo.yaml``) or ``--set`` overrides change them.
    """

    cameras: int = Field(3, ge=1)
    vehicles: int = Field(12, ge=1)
    seconds: float = Field(30.0, gt=0)
    fps: float = Field(8.0, gt=0)
    size: tuple[int, int] = (480, 270)
    train_ids: int = Field(100, ge=8)
    images_per_id: tuple[int, int] = (6, 8)
    image_size: int = Field(64, ge=32)
    epochs: int = Field(10, ge=1)
    seed: int = 0
    device: str = "auto"


@dataclass
class DemoResult:
    out: Path
    checkpoint: Path
    threshold: float
    calibration_idf1: float
    idf1: float
    idp: float
    idr: float
    chance_idf1: float
    identities: int
    true_identities: int
    report: Path
    run_dir: Path
    trained: bool


def _check_folder(out: Path) -> None:
    """The demo writes only into an empty folder or a folder of an earlier demo."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"demo path {out} is a file", "choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise OutputError(f"folder {out} is not empty and is not a reid demo folder", "choose another --out")


def train_demo_network(out: Path, s: DemoSettings, progress: Progress | None = None) -> tuple[Path, bool]:
    """Train (or reuse) the demo's small network; returns (best checkpoint, whether it was trained now)."""
    from reid.synth.vehicleid import write_vehicleid
    from reid.train.config import TrainConfig
    from reid.train.loop import train

    model_dir = out / "model"
    best = model_dir / "best.pt"
    done_flag = model_dir / "demo-done"
    if best.is_file() and done_flag.is_file():
        return best, False
    data = out / "vehicles"
    if not (data / "train_test_split" / "train_list.txt").is_file():
        write_vehicleid(
            data,
            num_train_ids=s.train_ids,
            num_test_ids=8,
            images_per_id=s.images_per_id,
            size=(96, 96),
            seed=s.seed + 17,
            overwrite=True,
        )
    cfg = TrainConfig.model_validate(
        {
            "model": {
                "arch": "resnet18",
                "pretrained": "none",
                "input_size": [s.image_size, s.image_size],
                "embedding_dim": 128,
            },
            "data": {"kind": "vehicleid", "root": str(data), "val_ids": 16, "num_workers": 0},
            "sampler": {"p": 16, "k": 4},
            # The paper starts from ImageNet weights; the demo cannot (offline), and from random weights almost
            # every positive starts behind most negatives, where PNP-Dq (alpha 4, tau 0.01) deliberately gives up
            # on it: the gradient f'(R) = -alpha / (1 + R)^(alpha + 1) vanishes. A warmer sigmoid (tau 0.05) and
            # alpha 1 keep that gradient alive; on the demo's vehicles this took held-out Recall@1 from ~31 % to
            # ~48 % in 10 epochs (see docs/benchmarks.md).
            "loss": {"name": "pnp", "variant": "Dq", "alpha": 1.0, "anneal": 0.05},
            "optim": {"name": "adam", "lr": 1e-3},
            "epochs": s.epochs,
            "device": s.device,
            "amp": True,
            "val_batch_size": 128,
            "seed": s.seed,
        }
    )
    resume = (model_dir / "last.pt").is_file()

    def report(step: int, total: int | None = None, **info: Any) -> None:
        if progress is not None:
            progress(step, total, stage="train", **{k: v for k, v in info.items() if k in ("epoch", "loss")})

    train(cfg, model_dir, resume=resume, overwrite=not resume, progress=report)
    atomic_write_text(done_flag, "trained\n")
    return best, True


def _scene(path: Path, s: DemoSettings, seed: int, progress: Progress | None) -> Path:
    from reid.synth.scene import write_scene

    if not (path / "scene.json").is_file():
        write_scene(
            path,
            cameras=s.cameras,
            vehicles=s.vehicles,
            seconds=s.seconds,
            fps=s.fps,
            size=s.size,
            seed=seed,
            overwrite=True,
            progress=(lambda d, t=None, **k: progress(d, t, stage="scene")) if progress else None,
        )
    return path


def chance_idf1(run_dir: Path, gt_dir: Path, seed: int = 0, repeats: int = 3) -> float:
    """Cross-camera IDF1 of linking by chance: the run's own tracklets with their global ids shuffled among
    them (same number and sizes of identities), averaged over a few shuffles."""
    import shutil
    import tempfile

    import numpy as np

    from reid.evaluation.mtmc import evaluate_mtmc
    from reid.video.writers import mot_path, relabel_mot

    doc = json.loads((run_dir / "identities.json").read_text(encoding="utf-8"))
    members = [
        (s["camera"], s["track_id"], ident["global_id"])
        for ident in doc["identities"]
        for s in ident["sightings"]
    ]
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(repeats):
        ids = rng.permutation([g for _, _, g in members])
        with tempfile.TemporaryDirectory() as tmp:
            for cam in doc["cameras"]:
                mapping = {t: int(g) for (c, t, _), g in zip(members, ids, strict=True) if c == cam}
                target = Path(tmp) / f"{cam}.txt"
                shutil.copyfile(mot_path(run_dir / "cameras" / cam, cam), target)
                relabel_mot(target, mapping)
            scores.append(evaluate_mtmc(tmp, gt_dir, per_camera=False).idf1)
    return float(np.mean(scores))


def run_demo(
    out: str | Path,
    settings: DemoSettings | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> DemoResult:
    """Run (or resume) the demo in ``out``; see the module docstring for the steps."""
    from reid.cameras import load_cameras
    from reid.evaluation.mtmc import evaluate_mtmc
    from reid.gallery.calibrate import calibrate_run
    from reid.gallery.config import LinkConfig
    from reid.multicam.runner import run_camera_folder
    from reid.video.config import TrackConfig

    s = settings or DemoSettings()
    out = Path(out).resolve()
    _check_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    marker = out / MARKER
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.__dict__.items()}
    if marker.is_file():
        old = json.loads(marker.read_text(encoding="utf-8")).get("settings")
        if old != params:
            raise OutputError(f"demo folder {out} was made with other settings", "choose another --out")
    else:
        atomic_write_json(marker, {"settings": params})

    checkpoint, trained = train_demo_network(out, s, progress)
    scene = _scene(out / "scene", s, s.seed, progress)
    calib_scene = _scene(out / "calibration-scene", s, s.seed + 1000, progress)
    track = TrackConfig(detector="motion", reid_weights=str(checkpoint), device=s.device)

    def stage(name: str) -> Progress | None:
        if progress is None:
            return None
        return lambda d, t=None, **k: progress(d, t, **{**k, "stage": f"{name}:{k.get('stage', '')}"})

    # the threshold comes from the calibration scene; the scored scene never sees its labels. In these scenes a
    # vehicle passes each camera once, so one camera's tracklets a few seconds apart are never one vehicle
    base = LinkConfig(min_revisit=2 * s.seconds)
    calib_run = out / "calibration-run"
    run_camera_folder(
        calib_scene, calib_run, track, base, workers=workers, progress=stage("calibrate"), report=False
    )
    cal = calibrate_run(calib_run, calib_scene / "gt", base, load_cameras(calib_scene / "cameras.yaml"))
    link_cfg = base.model_copy(update={"threshold": cal.best.threshold})
    run_dir = out / "run"
    result = run_camera_folder(scene, run_dir, track, link_cfg, workers=workers, progress=stage("run"))
    metrics = evaluate_mtmc(run_dir / "mot", scene / "gt")
    chance = chance_idf1(run_dir, scene / "gt", seed=s.seed)
    summary = {
        "threshold": cal.best.threshold,
        "calibration_idf1": cal.best.idf1,
        "idf1": metrics.idf1,
        "idp": metrics.idp,
        "idr": metrics.idr,
        "chance_idf1": chance,
    }
    atomic_write_json(marker, {"settings": params, "results": summary})
    if result.report_path is not None:  # the report shows the score too
        from reid.report.html import write_report

        doc = json.loads(result.identities_path.read_text(encoding="utf-8"))
        write_report(
            result.report_path,
            doc,
            base_dir=run_dir,
            title="reid demo: synthetic 3-camera scene",
            summary={
                "cross-camera IDF1": round(metrics.idf1, 4),
                "by chance": round(chance, 4),
                "threshold": cal.best.threshold,
            },
        )
    return DemoResult(
        out=out,
        checkpoint=checkpoint,
        threshold=cal.best.threshold,
        calibration_idf1=cal.best.idf1,
        idf1=metrics.idf1,
        idp=metrics.idp,
        idr=metrics.idr,
        chance_idf1=chance,
        identities=result.identities,
        true_identities=metrics.num_gt_ids,
        report=result.report_path or run_dir / "report.html",
        run_dir=run_dir,
        trained=trained,
    )
