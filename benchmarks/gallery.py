"""Gallery benchmark: search latency and Recall@1 of the IVF index against exact search (the peer), at 10k,
100k and 1M vectors of 512 dimensions; linking time for 1k and 10k tracklets; optionally the cross-camera
IDF1 of the full pipeline on a synthetic scene of 3 cameras and 50 vehicles.

Vectors are a Gaussian mixture on the unit sphere (many "vehicles", a few noisy views each), which is what a
re-ID gallery looks like; queries are fresh noisy views of stored vehicles. Recall@1 of IVF is measured against
exact search's own top-1 (1.0 = IVF returns exactly what exact search returns).

    python benchmarks/gallery.py                       # 10k, 100k, 1M; 1000 queries (100 at 1M)
    python benchmarks/gallery.py --sizes 10000 100000  # skip the 1M case
    python benchmarks/gallery.py --scene-weights runs/demo/model/best.pt   # also the 50-vehicle scene IDF1
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np


def clustered(n: int, dim: int, seed: int, views: int = 4, noise: float = 0.35, chunk: int = 100_000) -> np.ndarray:
    """``n`` unit vectors: ``n // views`` centres, each seen ``views`` times with Gaussian noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // views), dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        idx = np.arange(start, stop) % len(centres)
        v = centres[idx] + noise / np.sqrt(dim) * rng.standard_normal((stop - start, dim)).astype(np.float32)
        out[start:stop] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def queries_for(base: np.ndarray, q: int, seed: int, noise: float = 0.35) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    pick = base[rng.choice(len(base), q, replace=False)]
    v = pick + noise / np.sqrt(base.shape[1]) * rng.standard_normal(pick.shape).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def bench_search(sizes: list[int], dim: int, nprobe: int) -> list[dict]:
    from reid.gallery.config import IndexConfig
    from reid.gallery.index import VectorIndex, gpu_available

    rows = []
    for n in sizes:
        q = 1000 if n < 1_000_000 else 100
        base = clustered(n, dim, seed=n)
        queries = queries_for(base, q, seed=n)
        ids = np.arange(n, dtype=np.int64)
        results = {}
        for kind in ("flat", "ivf"):
            nlist = int(min(4096, max(16, 4 * np.sqrt(n))))
            cfg = IndexConfig(kind=kind, nlist=nlist, nprobe=nprobe, max_train=50_000)
            t0 = time.perf_counter()
            index = VectorIndex.build(base, ids, dim, cfg)
            build = time.perf_counter() - t0
            index.search(queries[:10], 10)  # warm-up
            t0 = time.perf_counter()
            _, found = index.search(queries, 10)
            per_query = (time.perf_counter() - t0) / q
            results[kind] = found
            rows.append({"n": n, "kind": index.kind, "queries": q, "nlist": index.nlist or "-",
                         "build_s": build, "ms_per_query": 1000 * per_query,
                         "gpu": gpu_available(cfg) and index.kind != "hnsw"})
            del index
        exact = results["flat"][:, 0]
        rows[-1]["recall1_vs_exact"] = float((results["ivf"][:, 0] == exact).mean())
        rows[-2]["recall1_vs_exact"] = 1.0
        rows[-1]["speedup_vs_exact"] = rows[-2]["ms_per_query"] / rows[-1]["ms_per_query"]
        rows[-2]["speedup_vs_exact"] = 1.0
        del base
    return rows


def bench_linking(sizes: list[int], dim: int) -> list[dict]:
    from reid.gallery.config import LinkConfig
    from reid.gallery.linker import Sighting, link

    rows = []
    for n in sizes:
        vehicles = max(1, n // 3)
        base = clustered(n, dim, seed=7 + n, views=3, noise=0.8)
        rng = np.random.default_rng(n)
        cams = ["c1", "c2", "c3", "c4"]
        sightings = []
        for i in range(n):
            vehicle = i % vehicles
            view = i // vehicles
            t = 5.0 * vehicle + 40.0 * view + rng.uniform(0, 2)
            sightings.append(Sighting(cams[view % 4], t, t + rng.uniform(2, 6), base[i], key=i))
        for mode in ("batch", "online"):
            t0 = time.perf_counter()
            result = link(sightings, LinkConfig(threshold=0.5, mode=mode))
            seconds = time.perf_counter() - t0
            truth = np.arange(n) % vehicles
            pred = np.asarray(result.identities)
            from reid.gallery.calibrate import identity_scores

            idf1, *_ = identity_scores(pred, truth, np.ones(n))
            rows.append({"tracklets": n, "mode": mode, "seconds": seconds, "identities": len(set(pred.tolist())),
                         "true_identities": vehicles, "idf1": idf1})
    return rows


def bench_scene(weights: str, out: str, vehicles: int, seconds: float) -> dict:
    from pathlib import Path

    from reid.cameras import load_cameras
    from reid.demo import chance_idf1
    from reid.evaluation.mtmc import evaluate_mtmc
    from reid.gallery.calibrate import calibrate_run
    from reid.gallery.config import LinkConfig
    from reid.multicam.runner import run_camera_folder
    from reid.synth.scene import write_scene
    from reid.video.config import TrackConfig

    root = Path(out)
    scene, calib = root / "scene", root / "calibration-scene"
    for path, seed in ((scene, 11), (calib, 12)):
        if not (path / "scene.json").is_file():
            write_scene(path, cameras=3, vehicles=vehicles, seconds=seconds, fps=8.0, size=(480, 270), seed=seed,
                        overwrite=True)
    track = TrackConfig(detector="motion", reid_weights=weights)
    t0 = time.perf_counter()
    base = LinkConfig(min_revisit=2 * seconds)  # a vehicle passes each camera of a synthetic scene once
    run_camera_folder(calib, root / "calibration-run", track, base, report=False)
    cal = calibrate_run(root / "calibration-run", calib / "gt", base, load_cameras(calib / "cameras.yaml"))
    run_camera_folder(scene, root / "run", track, base.model_copy(update={"threshold": cal.best.threshold}))
    m = evaluate_mtmc(root / "run" / "mot", scene / "gt")
    return {"cameras": 3, "vehicles": vehicles, "seconds": seconds, "threshold": cal.best.threshold,
            "idf1": m.idf1, "idp": m.idp, "idr": m.idr, "chance_idf1": chance_idf1(root / "run", scene / "gt"),
            "wall_s": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--link-sizes", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--scene-weights", help="checkpoint for the 50-vehicle scene IDF1 (skipped without)")
    parser.add_argument("--scene-out", default="runs/bench-gallery-scene")
    parser.add_argument("--scene-vehicles", type=int, default=50)
    parser.add_argument("--scene-seconds", type=float, default=90.0)
    args = parser.parse_args()
    import faiss

    print(f"machine: {platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores, "
          f"faiss {faiss.__version__}, GPUs seen by faiss: {faiss.get_num_gpus()}")
    print("\nsearch (top-10; Recall@1 and speed relative to exact search in the same run)")
    print(f"{'vectors':>9} {'index':>5} {'nlist':>6} {'queries':>7} {'build s':>8} {'ms/query':>9} "
          f"{'R@1 vs exact':>12} {'x exact':>8}")
    for r in bench_search(args.sizes, args.dim, args.nprobe):
        print(f"{r['n']:>9} {r['kind']:>5} {r['nlist']!s:>6} {r['queries']:>7} {r['build_s']:>8.2f} "
              f"{r['ms_per_query']:>9.3f} {r['recall1_vs_exact']:>12.3f} {r['speedup_vs_exact']:>8.1f}")
    print("\nlinking (4 cameras, 3 sightings per vehicle, no topology; IDF1 against the generating vehicles)")
    print(f"{'tracklets':>9} {'mode':>6} {'seconds':>8} {'ids':>6} {'true':>6} {'IDF1':>6}")
    for r in bench_linking(args.link_sizes, args.dim):
        print(f"{r['tracklets']:>9} {r['mode']:>6} {r['seconds']:>8.2f} {r['identities']:>6} "
              f"{r['true_identities']:>6} {r['idf1']:>6.3f}")
    if args.scene_weights:
        r = bench_scene(args.scene_weights, args.scene_out, args.scene_vehicles, args.scene_seconds)
        print(f"\nscene: {r['cameras']} cameras, {r['vehicles']} vehicles, {r['seconds']:.0f} s each; threshold "
              f"{r['threshold']:.3f} (calibrated on another scene)")
        print(f"cross-camera IDF1 {100 * r['idf1']:.1f} (IDP {100 * r['idp']:.1f}, IDR {100 * r['idr']:.1f}); "
              f"linking by chance {100 * r['chance_idf1']:.1f}; wall {r['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
