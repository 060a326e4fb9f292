"""Live benchmark: a synthetic 3-camera scene served as live MJPEG streams from 127.0.0.1, in real time, and
``reid live`` on it, against batch mode (``reid track CAMERAS_DIR``) on the same footage.

Reports, in one table:

- the cross-camera IDF1 of the live run and of batch mode (goal: live within 0.03 of batch);
- the latency from a track's end to its global id, p50 and p99 (goal: p99 under 1 s on 2 CPU cores);
- frames dropped by the real-time readers (a camera that falls behind skips to the newest frame);
- with ``--minutes M``: resident memory of the driver and its workers over an M-minute run on looping streams
  (goal: growth under 50 MB over 30 minutes), sampled every 10 s after a 2-minute warm-up.

The network is the demo's small PNP network trained here from random weights (or ``--reid-weights``); the
linking threshold is calibrated on a second, labelled scene, the same one for both modes.

    python benchmarks/live.py                 # IDF1 live vs batch, latency, drops (a few minutes)
    python benchmarks/live.py --minutes 30    # plus the memory curve of a 30-minute run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

CAMERAS = ("cam1", "cam2", "cam3")


def rss_tree_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, in MB (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def prepare(root: Path, args: argparse.Namespace) -> tuple[Path, Path, float, dict[str, float]]:
    from reid.demo import DemoSettings, train_demo_network
    from reid.gallery.calibrate import calibrate_run
    from reid.gallery.config import LinkConfig
    from reid.multicam.runner import run_camera_folder
    from reid.synth.scene import write_scene
    from reid.video.config import TrackConfig

    size = (args.width, args.height)
    scene, calib = root / "scene", root / "calib"
    write_scene(scene, cameras=3, vehicles=args.vehicles, seconds=args.seconds, fps=args.fps, size=size, seed=3)
    write_scene(calib, cameras=3, vehicles=args.vehicles, seconds=args.seconds, fps=args.fps, size=size, seed=4)
    if args.reid_weights:
        ckpt = Path(args.reid_weights)
    else:
        ckpt, _ = train_demo_network(root, DemoSettings(vehicles=args.vehicles, seconds=args.seconds, fps=args.fps,
                                                         size=size, epochs=args.epochs, device="cpu"))
    track = TrackConfig(detector="motion", reid_weights=str(ckpt), device="cpu")
    run_camera_folder(calib, root / "calib-run", track, LinkConfig(), report=False)
    # each mode gets the threshold that calibrating on the labelled scene picks for it, in its own vector space:
    # the live linker compares raw unit vectors (no per-camera centring), batch linking centres them by default
    online = calibrate_run(root / "calib-run", calib / "gt",
                           LinkConfig(mode="online", camera_bias=False)).best.threshold
    batch = calibrate_run(root / "calib-run", calib / "gt", LinkConfig(mode="batch")).best.threshold
    raw = calibrate_run(root / "calib-run", calib / "gt", LinkConfig(mode="batch", camera_bias=False)).best.threshold
    return scene, ckpt, online, {"centred": batch, "raw": raw}


def run_batch(root: Path, scene: Path, ckpt: Path, threshold: float, camera_bias: bool = True) -> float:
    from reid.evaluation.mtmc import evaluate_mtmc
    from reid.gallery.config import LinkConfig
    from reid.multicam.runner import run_camera_folder
    from reid.video.config import TrackConfig

    track = TrackConfig(detector="motion", reid_weights=str(ckpt), device="cpu")
    out = root / ("batch" if camera_bias else "batch-raw")
    run_camera_folder(scene, out, track, LinkConfig(threshold=threshold, camera_bias=camera_bias), report=False)
    return evaluate_mtmc(out / "mot", scene / "gt", per_camera=False).idf1


def run_live_once(root: Path, scene: Path, ckpt: Path, threshold: float | str, minutes: float | None,
                  drop: str, name: str | None = None) -> dict:
    import yaml

    from reid.evaluation.mtmc import evaluate_mtmc
    from reid.live.config import LiveConfig
    from reid.live.run import LiveHooks, LiveOptions, run_live
    from reid.synth.stream_server import MjpegServer

    loop = minutes is not None
    server = MjpegServer({c: scene / f"{c}.mp4" for c in CAMERAS}, clock="connect", loop=loop).start()
    sources = root / ("sources-long.yaml" if loop else "sources.yaml")
    sources.write_text(yaml.safe_dump({"kind": "cameras", "cameras": {c: {"source": server.url(c)}
                                                                        for c in CAMERAS}}))
    out = root / (name or ("live-long" if loop else f"live-{drop}"))
    cfg = LiveConfig.model_validate({"track": {"detector": "motion", "reid_weights": str(ckpt), "device": "cpu"},
                                     "link": {"mode": "online", "threshold": threshold},
                                     "reconnects": 0, "drop": drop})
    stop = threading.Event()
    samples: list[tuple[float, float]] = []

    def sample() -> None:
        start = time.monotonic()
        while not stop.wait(10.0):
            samples.append((time.monotonic() - start, rss_tree_mb(os.getpid())))
            if minutes is not None and time.monotonic() - start >= minutes * 60:
                stop.set()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = run_live(LiveOptions(sources, out, overwrite=True), cfg, LiveHooks(stop=stop))
    finally:
        stop.set()
        server.stop()
    status = json.loads((out / "status.json").read_text())["cameras"]
    row = {"latency_p50": result.latency.p50, "latency_p99": result.latency.p99, "events": result.events,
           "seen_p50": result.since_seen.p50, "seen_p99": result.since_seen.p99,
           "dropped": sum(c.get("frames_dropped", 0) for c in status.values()),
           "frames_in": sum(c.get("frames_in", 0) for c in status.values())}
    if not loop:
        row["idf1"] = evaluate_mtmc(out / "mot", scene / "gt", per_camera=False).idf1
    else:
        warm = [mb for t, mb in samples if t >= 120]
        row.update(rss_start=warm[0] if warm else None, rss_end=warm[-1] if warm else None,
                   rss_max=max(warm) if warm else None, samples=samples)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--height", type=int, default=270)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--reid-weights", default=None)
    parser.add_argument("--minutes", type=float, default=None, help="also a long run, for the memory curve")
    parser.add_argument("--work", default=None, help="folder for the scenes and runs (default: a temporary one)")
    args = parser.parse_args()
    root = Path(args.work or tempfile.mkdtemp(prefix="reid-live-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("REID_CACHE_DIR", str(root / "cache"))
    scene, ckpt, threshold, batch_thresholds = prepare(root, args)
    batch = run_batch(root, scene, ckpt, batch_thresholds["centred"])
    batch_raw = run_batch(root, scene, ckpt, batch_thresholds["raw"], camera_bias=False)
    live = run_live_once(root, scene, ckpt, threshold, None, "newest")
    auto = run_live_once(root, scene, ckpt, "auto", None, "newest", name="live-auto")  # reid live's default
    print(f"# live benchmark, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d')}; scene 3 cameras x {args.seconds:g} s at {args.fps:g} fps "
          f"{args.width}x{args.height}, {args.vehicles} vehicles; thresholds (calibrated on another scene): online "
          f"{threshold:.3f}, batch {batch_thresholds['centred']:.3f} (without centring {batch_thresholds['raw']:.3f})")
    print("| measure | value | goal |")
    print("|---|---|---|")
    print(f"| cross-camera IDF1, batch (reid track CAMERAS_DIR, default: vectors centred per camera) | {batch:.3f} | |")
    print(f"| cross-camera IDF1, batch without centring (the live linker's vectors) | {batch_raw:.3f} | |")
    print(f"| cross-camera IDF1, live (reid live, real time) | {live['idf1']:.3f} | within 0.03 of batch: "
          f"{live['idf1'] - batch_raw:+.3f} on the same vectors, {live['idf1'] - batch:+.3f} against the default |")
    print(f"| cross-camera IDF1, live with `threshold: auto` (calibrated on the streams, the default) | "
          f"{auto['idf1']:.3f} | |")
    print(f"| latency track end -> global id, p50 | {live['latency_p50']:.3f} s | |")
    print(f"| latency track end -> global id, p99 | {live['latency_p99']:.3f} s | under 1 s |")
    print(f"| last frame a vehicle was seen -> global id, p50 / p99 | {live['seen_p50']:.2f} / "
          f"{live['seen_p99']:.2f} s | |")
    print(f"| frames dropped by the real-time readers | {live['dropped']} of {live['frames_in']} | |")
    if args.minutes:
        long = run_live_once(root, scene, ckpt, threshold, args.minutes, "newest")
        growth = (long["rss_end"] - long["rss_start"]) if long["rss_start"] is not None else float("nan")
        print(f"| resident memory after warm-up / at the end / max ({args.minutes:g} min) | "
              f"{long['rss_start']:.0f} / {long['rss_end']:.0f} / {long['rss_max']:.0f} MB | |")
        print(f"| memory growth over the run | {growth:+.1f} MB | under 50 MB |")
        print(f"| frames dropped over the long run | {long['dropped']} of {long['frames_in']} | |")
        print(f"| latency p99 over the long run | {long['latency_p99']:.3f} s | under 1 s |")
        (root / "memory.json").write_text(json.dumps(long["samples"]))


if __name__ == "__main__":
    main()
