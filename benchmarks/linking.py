"""Cross-camera linking against its ceiling on synthetic scenes, with networks trained here from scratch.

For each scene (3 and 5 cameras, 24 to 100 vehicles; ``reid synth scene``) and each network (the demo's
ResNet-18 at 64x64 trained from random weights with PNP-Dq, for fewer and for more steps), the cameras are
tracked once with the motion detector, as ``reid track CAMERAS_DIR`` does with no ``cameras.yaml``; then the same
tracklets are linked in several ways and each is scored with cross-camera IDF1 against the ceiling, the IDF1 of
the tracklets relabelled with their true identities (:mod:`reid.gallery.ceiling`):

* ``before``: the previous defaults (threshold 0.6, no camera-bias removal, no learned windows, windows
  without slack or skipped cameras);
* ``auto``: the current defaults (self-calibrated threshold, camera bias removed, learned travel windows);
* ``topology before`` / ``topology``: the same two with the scene's ``cameras.yaml`` (true windows, hard);
* ``online``: the live linker of ``reid live`` (``mode: online``): the tracklets one at a time in the order they
  end, each id given at once and never changed, learning threshold, camera means and windows as it goes;
* with ``--ablations``: the current defaults less one part at a time, with one or three rounds, other
  false-match rates, and the threshold calibrating on the truth picks.

Everything expensive is cached in ``--work`` (networks, scenes, tracked cameras), so a second run only links::

    python benchmarks/linking.py --work runs/linking-bench
    python benchmarks/linking.py --work runs/linking-bench --nets demo --scenes c3v24 --ablations
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

SCENES = {  # name: (cameras, vehicles, seconds, seed)
    "c3v24": (3, 24, 30.0, 0),
    "c3v50": (3, 50, 60.0, 1),
    "c5v50": (5, 50, 60.0, 1),
    "c5v100": (5, 100, 90.0, 1),
}
NETS = {  # name: (epochs, training identities); "demo" is reid demo's network
    "weak": (3, 100),
    "demo": (10, 100),
    "strong": (20, 300),
}


@dataclass
class Case:
    scene: str
    net: str
    run: Path
    gt: Path
    cameras_yaml: Path


def prepare(work: Path, scene: str, net: str) -> Case:
    """The scene, the network and the tracked run of one case, each made once and reused."""
    from reid.demo import DemoSettings, train_demo_network
    from reid.multicam.runner import run_camera_folder
    from reid.synth.scene import write_scene
    from reid.video.config import TrackConfig

    cams, vehicles, seconds, seed = SCENES[scene]
    scene_dir = work / "scenes" / scene
    if not (scene_dir / "scene.json").is_file():
        write_scene(scene_dir, cameras=cams, vehicles=vehicles, seconds=seconds, seed=seed, overwrite=True)
    # a camera folder without cameras.yaml: what a user with new cameras has
    folder = work / "cams" / scene
    folder.mkdir(parents=True, exist_ok=True)
    for video in sorted(scene_dir.glob("cam*.mp4")):
        link = folder / video.name
        if not link.exists():
            link.symlink_to(video.resolve())
    epochs, ids = NETS[net]
    net_dir = work / "nets" / net
    net_dir.mkdir(parents=True, exist_ok=True)
    weights, _ = train_demo_network(net_dir, DemoSettings(epochs=epochs, train_ids=ids))
    run = work / "track" / f"{scene}-{net}"
    manifest = run / "manifest.json"
    tracked = json.loads(manifest.read_text()).get("cameras", {}) if manifest.is_file() else {}
    if set(tracked) != {v.stem for v in folder.glob("cam*.mp4")}:
        run_camera_folder(folder, run, TrackConfig(detector="motion", reid_weights=str(weights)), report=False)
    return Case(scene, net, run, scene_dir / "gt", scene_dir / "cameras.yaml")


def load_case(case: Case):
    """The run's tracklets as sightings, their local-id MOT files and the ceiling."""
    from reid.gallery.ceiling import relabelled_idf1, truth_labels
    from reid.gallery.flows import run_motions
    from reid.gallery.linker import Sighting
    from reid.multicam.manifest import load_tracklets
    from reid.video.writers import mot_path

    cameras = sorted(json.loads((case.run / "manifest.json").read_text())["cameras"])
    motions = run_motions(case.run / "cameras", cameras)
    sightings = [Sighting(c, t.first_time, t.last_time, t.feature, key=(c, t.track_id), num_boxes=t.num_boxes,
                          motion=motions.get((c, t.track_id)))
                 for c in cameras for t in load_tracklets(case.run, c)]
    tracks = {c: mot_path(case.run / "cameras" / c, c) for c in cameras}
    labels, _ = truth_labels(tracks, {p.stem: p for p in sorted(case.gt.glob("*.txt"))}, 0.5)
    return sightings, tracks, relabelled_idf1(tracks, labels, case.gt)


def variants(ablations: bool) -> list[tuple[str, dict, bool]]:
    """(name, LinkConfig fields, with the scene's topology)."""
    before = {"threshold": 0.6, "camera_bias": False, "travel": {"learn": False, "slack": 0.0, "skip": 0}}
    rows = [("before", before, False), ("auto", {}, False), ("topology before", before, True), ("topology", {}, True),
            ("online (reid live's linker)", {"mode": "online"}, False),
            ("topology, online", {"mode": "online"}, True)]
    if ablations:
        rows += [
            ("auto, bias kept", {"camera_bias": False}, False),
            ("auto, no learned windows", {"travel": {"learn": False}}, False),
            ("auto, windows between cameras only", {"travel": {"flows": False}}, False),
            ("auto, 2 rounds", {"travel": {"rounds": 2}}, False),
            ("auto, 3 rounds", {"travel": {"rounds": 3}}, False),
            ("auto, false-match rate 2 %", {"false_match_rate": 0.02}, False),
            ("auto, false-match rate 10 %", {"false_match_rate": 0.10}, False),
            ("topology, bias kept", {"camera_bias": False}, True),
            ("topology, no slack or skip", {"travel": {"slack": 0.0, "skip": 0}}, True),
        ]
    return rows


def truth_threshold(sightings, tracks, gt, cfg, topology) -> tuple[float, float]:
    """The threshold calibrating on the truth picks for ``cfg`` (best IDF1 on a grid) and that IDF1."""
    import numpy as np

    from reid.gallery.ceiling import relabelled_idf1

    best = (-1.0, 0.0)
    for th in np.round(np.arange(0.1, 0.951, 0.05), 2):
        result = link_case(sightings, cfg.model_copy(update={"threshold": float(th)}), topology)
        best = max(best, (relabelled_idf1(tracks, mapping(sightings, result.identities), gt), float(th)))
    return best[1], best[0]


def link_case(sightings, cfg, topology):
    from reid.gallery.linker import link

    return link(sightings, cfg, topology)


def mapping(sightings, identities) -> dict[str, dict[int, int]]:
    out: dict[str, dict[int, int]] = {}
    for s, gid in zip(sightings, identities, strict=True):
        out.setdefault(s.camera, {})[int(s.key[1])] = int(gid)
    return out


def cross_camera_rank1(sightings, tracks, gt) -> float:
    """Share of tracklets with a true match in another camera whose most similar tracklet of another camera is
    one (the appearance the linker has to work with; vectors centred per camera, as linking uses them)."""
    import numpy as np

    from reid.gallery.ceiling import truth_labels
    from reid.gallery.config import LinkConfig
    from reid.gallery.linker import prepare_features

    labels, _ = truth_labels(tracks, {p.stem: p for p in sorted(gt.glob("*.txt"))}, 0.5)
    feats, rows = prepare_features(sightings, LinkConfig())
    truth = np.array([labels[sightings[i].camera].get(int(sightings[i].key[1]), -1) for i in rows])
    cams = np.array([sightings[i].camera for i in rows])
    sims = feats @ feats.T
    hits = total = 0
    for i in range(len(rows)):
        other = cams != cams[i]
        if truth[i] < 0 or not (other & (truth == truth[i])).any():
            continue
        best = np.flatnonzero(other)[np.argmax(sims[i, other])]
        hits += int(truth[best] == truth[i])
        total += 1
    return hits / max(total, 1)


def bench_case(case: Case, ablations: bool) -> list[dict]:
    from reid.cameras import load_cameras
    from reid.gallery.ceiling import relabelled_idf1
    from reid.gallery.config import LinkConfig

    sightings, tracks, ceiling = load_case(case)
    rank1 = cross_camera_rank1(sightings, tracks, case.gt)
    topology = load_cameras(case.cameras_yaml)
    rows = []
    for name, fields, with_topology in variants(ablations):
        cfg = LinkConfig.model_validate(fields)
        topo = topology if with_topology else None
        t0 = time.perf_counter()
        result = link_case(sightings, cfg, topo)
        seconds = time.perf_counter() - t0
        idf1 = relabelled_idf1(tracks, mapping(sightings, result.identities), case.gt)
        report = result.report
        rows.append({"scene": case.scene, "net": case.net, "variant": name, "tracklets": len(sightings),
                     "threshold": report.calibration.threshold, "idf1": idf1, "ceiling": ceiling,
                     "ratio": idf1 / ceiling, "link_s": seconds, "rank1": rank1,
                     "windows": len(report.travel.links()) if report.travel is not None else 0})
        if ablations and name in ("auto", "topology", "online (reid live's linker)"):
            th, best = truth_threshold(sightings, tracks, case.gt, cfg, topo)
            rows.append({**rows[-1], "variant": f"{name}, threshold from the truth", "threshold": th, "idf1": best,
                         "ratio": best / ceiling})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/linking-bench"))
    parser.add_argument("--scenes", nargs="*", default=list(SCENES), choices=list(SCENES))
    parser.add_argument("--nets", nargs="*", default=list(NETS), choices=list(NETS))
    parser.add_argument("--ablations", action="store_true", help="also each part of the defaults left out")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args()
    import os

    print(f"machine: {platform.machine()}, {len(os.sched_getaffinity(0))} cores")
    rows = []
    for net in args.nets:
        for scene in args.scenes:
            case = prepare(args.work, scene, net)
            for row in bench_case(case, args.ablations):
                rows.append(row)
                print(f"{row['scene']:7s} {row['net']:6s} {row['variant']:36s} th {row['threshold']:.3f} "
                      f"IDF1 {100 * row['idf1']:5.1f} ceiling {100 * row['ceiling']:5.1f} "
                      f"ratio {row['ratio']:.3f} windows {row['windows']} ({row['link_s']:.1f} s)", flush=True)
    print("\n| scene | network | variant | tracklets | cross-camera rank-1 | threshold | IDF1 | ceiling | IDF1 / ceiling |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['scene']} | {r['net']} | {r['variant']} | {r['tracklets']} | {100 * r['rank1']:.0f} % | "
              f"{r['threshold']:.3f} | {100 * r['idf1']:.1f} | {100 * r['ceiling']:.1f} | {r['ratio']:.3f} |")
    print("\nmean IDF1 / ceiling over the scenes")
    nets = list(dict.fromkeys(r["net"] for r in rows))
    print("| variant | " + " | ".join(nets) + " |")
    print("|---|" + "---:|" * len(nets))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        means = []
        for net in nets:
            ratios = [r["ratio"] for r in rows if r["variant"] == variant and r["net"] == net]
            means.append(f"{sum(ratios) / len(ratios):.3f}" if ratios else "")
        print(f"| {variant} | " + " | ".join(means) + " |")
    if args.json is not None:
        from reid.io import atomic_write_json

        atomic_write_json(args.json, rows)


if __name__ == "__main__":
    main()
