"""Scale benchmark: one camera folder on a local Ray cluster of 1, 2, ... worker nodes, against the local engine,
and how many writes per second the one-writer gallery takes.

The cluster runs on 127.0.0.1: ``ray start --head --num-cpus 0`` (the head runs no camera), then one
``ray start --address ... --num-cpus 1`` per worker node. For each node count it reports:

- camera-seconds processed per second (video seconds of all cameras / wall time of the run);
- the scaling efficiency (throughput with N nodes / (N x throughput with 1 node));
- the overhead of the Ray engine against the local engine with as many worker processes, on this machine
  (goal: under 10 %).

``--parts gallery`` measures the gallery's one writer: tracklet events stored one transaction each (the live
path) and runs of tracklets stored in one transaction (the batch path), per second.

    python benchmarks/scale.py                        # 1 and 2 worker nodes (a 2-core machine)
    python benchmarks/scale.py --nodes 1 2 4 8        # where the machine allows
    python benchmarks/scale.py --parts gallery
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PORT = 6390


def ray_cli() -> str:
    found = shutil.which("ray") or str(Path(os.sys.executable).parent / "ray")
    if not Path(found).exists():
        raise SystemExit('the ray command is missing: pip install "reid[ray]"')
    return found


def start_cluster(nodes: int) -> str:
    """A head without CPUs and ``nodes`` worker nodes with one CPU each, all on 127.0.0.1.

    Recent Ray starts a head with token authentication on (the token in ``~/.ray/auth_token``) but does not
    turn it on by itself for the nodes and drivers that join: ``RAY_AUTH_MODE=token`` is set for them (and for
    this process, whose runs connect as drivers), which is what a user of such a cluster does too.
    """
    ray = ray_cli()
    stop_cluster()
    os.environ["RAY_AUTH_MODE"] = "token"
    common = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    subprocess.run([ray, "start", "--head", "--port", str(PORT), "--num-cpus", "0", "--include-dashboard",
                    "false", *common], check=True, capture_output=True)
    address = f"127.0.0.1:{PORT}"
    for _ in range(nodes):
        subprocess.run([ray, "start", "--address", address, "--num-cpus", "1", *common], check=True,
                       capture_output=True)
    return address


def stop_cluster() -> None:
    subprocess.run([ray_cli(), "stop", "--force"], capture_output=True)


def make_folder(root: Path, cameras: int, seconds: float) -> tuple[Path, Path]:
    import torch

    from reid.models.checkpoint import make_checkpoint, save_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model
    from reid.synth.scene import write_scene

    scene = root / "scene"
    write_scene(scene, cameras=cameras, vehicles=3 * cameras, seconds=seconds, fps=10.0, size=(480, 270), seed=1)
    torch.manual_seed(0)
    cfg = ModelConfig(arch="resnet18", pretrained="none", embedding_dim=64, input_size=(64, 64))
    return scene, save_checkpoint(root / "random.pt", make_checkpoint(build_model(cfg).eval(), cfg))


def timed_run(scene: Path, ckpt: Path, out: Path, engine: str, workers: int, address: str | None = None) -> float:
    from reid.gallery.config import LinkConfig
    from reid.multicam.runner import run_camera_folder
    from reid.video.config import TrackConfig

    track = TrackConfig(detector="motion", reid_weights=str(ckpt), device="cpu",
                        engine={"name": engine, "address": address, "num_cpus_per_camera": 1})
    t0 = time.perf_counter()
    run_camera_folder(scene, out, track, LinkConfig(), workers=workers, overwrite=True, report=False)
    return time.perf_counter() - t0


def timed_run_apart(scene: Path, ckpt: Path, out: Path, engine: str, workers: int, address: str | None = None) -> float:
    """:func:`timed_run` in a process of its own: a driver that was connected to a cluster keeps Ray's client
    threads after ``ray.shutdown()``, and they end the process once that cluster is stopped for the next node
    count. The time is measured inside the run, so the process start is not counted."""
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import scale; "
            "print(scale.timed_run(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5], "
            "int(sys.argv[6]), sys.argv[7] or None))")
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(scene), str(ckpt), str(out),
                           engine, str(workers), address or ""], check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def bench_engines(args: argparse.Namespace, root: Path) -> None:
    scene, ckpt = make_folder(root, args.cameras, args.seconds)
    camera_seconds = args.cameras * args.seconds
    timed_run(scene, ckpt, root / "warm", "local", 1)  # onnx export cache, page cache
    rows = []
    try:
        for n in args.nodes:
            local = min(timed_run_apart(scene, ckpt, root / f"local{n}", "local", n) for _ in range(args.repeats))
            address = start_cluster(n)
            os.environ["RAY_ADDRESS"] = address
            ray_t = min(timed_run_apart(scene, ckpt, root / f"ray{n}", "ray", n, address)
                        for _ in range(args.repeats))
            rows.append((n, local, ray_t))
    finally:
        os.environ.pop("RAY_ADDRESS", None)
        stop_cluster()
    print(f"# scale benchmark, {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}: "
          f"{args.cameras} cameras x {args.seconds:g} s at 10 fps (480x270), motion detector, ResNet-18 64 px; "
          f"best of {args.repeats}")
    print("| worker nodes | local: camera-s/s | ray: camera-s/s | ray scaling efficiency | ray overhead vs local |")
    print("|---|---|---|---|---|")
    base = camera_seconds / rows[0][2]
    for n, local, ray_t in rows:
        thr_local, thr_ray = camera_seconds / local, camera_seconds / ray_t
        print(f"| {n} | {thr_local:.2f} | {thr_ray:.2f} | {thr_ray / (n * base):.2f} | "
              f"{(ray_t - local) / local * 100:+.1f} % |")


def bench_gallery(args: argparse.Namespace, root: Path) -> None:
    from reid.engine.messages import TrackletEvent
    from reid.gallery.gallery import Gallery
    from reid.gallery.store import StoredTracklet
    from reid.live.store import LiveStore

    dim = 512
    vector = _unit_vectors(dim)

    with Gallery.open(root / "g-live", embedder="bench", dim=dim) as g:
        store = LiveStore(g, "bench", "bench", {"cam1": {}})
        n = args.events
        t0 = time.perf_counter()
        for i in range(n):
            e = TrackletEvent(camera="cam1", track_id=i, cls=2, first_frame=0, last_frame=10, t_start=float(i),
                              t_end=float(i) + 1, num_boxes=10, feature=vector(), crops=["a.jpg"] * 4)
            store.record(e, i + 1, True)
        live_rate = n / (time.perf_counter() - t0)
    with Gallery.open(root / "g-batch", embedder="bench", dim=dim) as g:
        rows = [StoredTracklet(-1, "cam1", i, 2, 0, 10, float(i), float(i) + 1, 10, i + 1, "r", ["a.jpg"] * 4,
                               vector()) for i in range(args.events * 10)]
        t0 = time.perf_counter()
        g.add_run("bench", "bench", {"cam1": {}}, rows, [r.identity for r in rows])
        batch_rate = len(rows) / (time.perf_counter() - t0)
    print(f"# gallery one-writer benchmark, {platform.machine()}, {time.strftime('%Y-%m-%d')}, {dim}-d vectors")
    print("| write path | tracklets per second |")
    print("|---|---|")
    print(f"| live: one transaction per event ({args.events} events, WAL, synchronous=NORMAL) | {live_rate:.0f} |")
    print(f"| batch: one run of {len(rows)} tracklets in one transaction (index saved in it) | {batch_rate:.0f} |")


def _unit_vectors(dim: int):
    """A function returning a fresh random unit vector of ``dim`` floats at each call (seeded)."""
    import numpy as np

    rng = np.random.default_rng(0)

    def vector() -> np.ndarray:
        v = rng.standard_normal(dim).astype(np.float32)
        return v / np.linalg.norm(v)

    return vector


def bench_linker(args: argparse.Namespace, vector) -> None:
    """The live linker's events per second against the number of live identities it searches."""
    from reid.gallery.config import LinkConfig
    from reid.live.linker import OnlineLinker

    print("| live linker: events assigned per second, with N live identities | events per second |")
    for n in args.identities:
        linker = OnlineLinker(LinkConfig(), threshold=0.9, max_identities=max(args.identities) * 2)
        for gid in range(1, n + 1):  # identities known from the gallery, as at a restart
            linker.seed(gid, f"cam{gid % 50}", float(gid), gid + 1.0, vector())
        events = [vector() for _ in range(500)]
        t0 = time.perf_counter()
        for i, v in enumerate(events):
            linker.assign(f"cam{i % 50}", i, 1e6 + i, 1e6 + i + 1, v)
            linker.forget_track(f"cam{i % 50}", i)
        print(f"| N = {n:,} | {len(events) / (time.perf_counter() - t0):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["engines", "gallery", "linker"], choices=["engines", "gallery", "linker"])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--identities", type=int, nargs="+", default=[1000, 10_000, 100_000])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="reid-scale-"))
    os.environ.setdefault("REID_CACHE_DIR", str(root / "cache"))
    if "gallery" in args.parts:
        bench_gallery(args, root)
    if "linker" in args.parts:
        bench_linker(args, _unit_vectors(512))
    if "engines" in args.parts:
        bench_engines(args, root)


if __name__ == "__main__":
    main()
