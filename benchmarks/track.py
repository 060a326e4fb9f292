"""Single-camera tracking throughput, re-ID overhead, memory on long input and IDF1 on a synthetic scene.

    python benchmarks/track.py [--seconds 30] [--long-minutes 10] [--arch resnet50 --input 256] [--skip-yolo]

1. Throughput: on camera 1 of a synthetic scene, frames per second of detection + tracking alone (detector and
   tracker calls only) and of the full pipeline (best-K crops, tracklet vectors, rejoin, MOT output), in the same
   run, for the motion detector and for YOLO11n (random weights from yolo11n.yaml: same cost as trained ones).
   The re-ID network has random weights too (same cost as a trained one).
2. Memory: the full pipeline with the motion detector on ``--long-minutes`` of frames generated on the fly
   (nothing stored); peak RSS after one minute of video and at the end.
3. IDF1 of every camera of the scene with the motion detector (py-motmetrics, IoU 0.5).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def det_track_only(video: Path, config) -> tuple[int, float]:
    """Frames and seconds for detector + tracker calls alone (the baseline of the re-ID overhead)."""
    from reid.video.config import load_tracker_config
    from reid.video.detectors import build_detector
    from reid.video.sources import open_source
    from reid.video.tracking import CameraTracker

    src = open_source(video)
    detector = build_detector(config)
    tracker = CameraTracker(load_tracker_config(config.tracker), src.fps)
    frames = 0
    start = time.perf_counter()
    batch: list = []

    def run(batch: list) -> None:
        for frame, dets in zip(batch, detector.detect([f.image for f in batch]), strict=True):
            tracker.update(dets, frame.image)

    for frame in src:
        batch.append(frame)
        frames += 1
        if len(batch) >= config.det_batch_size:
            run(batch)
            batch = []
    if batch:
        run(batch)
    return frames, time.perf_counter() - start


def full_pipeline(video: Path, config, embedder, out: Path) -> tuple[int, float, int]:
    from reid.video.pipeline import track_video

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = track_video(video, video.stem, config, embedder, out)
    return result.frames, time.perf_counter() - start, len(result.tracklets)


class GeneratedSource:
    """Endless traffic drawn on the fly: coloured boxes crossing a static background, new ones keep coming."""

    def __init__(self, seconds: float, fps: float = 10.0, size: tuple[int, int] = (320, 192), seed: int = 0):
        from reid.video.sources import FrameSource

        self.__class__ = type("GeneratedFrameSource", (GeneratedSource, FrameSource), {})
        FrameSource.__init__(self, "generated", 1)
        self.fps = fps
        self.total_frames = int(seconds * fps)
        self.size = size
        self.seed = seed

    def __iter__(self) -> Iterator:
        import cv2

        from reid.video.sources import Frame

        rng = np.random.default_rng(self.seed)
        w, h = self.size
        bg = np.full((h, w, 3), 90, np.uint8)
        bg = cv2.add(
            bg,
            cv2.resize(
                rng.integers(0, 40, (h // 8, w // 8, 3), dtype=np.uint8),
                (w, h),
                interpolation=cv2.INTER_NEAREST,
            ),
        )
        vehicles: list[list[float]] = []
        for i in range(self.total_frames):
            if i % 25 == 0:  # a new vehicle every 2.5 s, alternating lanes and directions
                lane = (i // 25) % 2
                colour = [float(c) for c in rng.integers(30, 255, 3)]
                vehicles.append(
                    [-40.0 if lane == 0 else w + 40.0, 70.0 + 50 * lane, 6.0 if lane == 0 else -6.0, *colour]
                )
            img = bg.copy()
            for v in vehicles:
                v[0] += v[2]
                x = int(v[0])
                cv2.rectangle(img, (x, int(v[1])), (x + 40, int(v[1]) + 22), tuple(v[3:6]), -1)
            vehicles = [v for v in vehicles if -60 < v[0] < w + 60]
            self.frames_read += 1
            yield Frame(i, i / self.fps, img)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the synthetic scene")
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--arch", default="resnet50", help="re-ID backbone (random weights)")
    parser.add_argument("--input", type=int, default=256, help="re-ID input size (square)")
    parser.add_argument("--crops", type=int, default=8, help="crops kept per track (K)")
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--skip-yolo", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()

    import torch

    from reid.evaluation.mot import evaluate_mot
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model
    from reid.models.inference import CropEmbedder
    from reid.synth.scene import write_scene
    from reid.video.config import TrackConfig
    from reid.video.pipeline import track_video

    if args.threads:
        torch.set_num_threads(args.threads)
    model_cfg = ModelConfig(arch=args.arch, pretrained="none", input_size=(args.input, args.input))
    model = build_model(model_cfg, load_pretrained=False)
    embedder = CropEmbedder.from_model(
        model, model_cfg.input_size, model_cfg.mean, model_cfg.std, device="cpu"
    )
    embedder.embed([np.zeros((64, 64, 3), np.uint8)])  # one-time setup (ONNX export, allocations) is not timed
    root = Path(tempfile.mkdtemp(prefix="reid-bench-track-"))
    scene = write_scene(
        root / "scene", cameras=args.cameras, vehicles=4 * args.cameras, seconds=args.seconds, seed=0
    )
    video = scene.videos[scene.cameras[0]]

    print(
        f"machine: {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, "
        f"cuda {torch.cuda.is_available()}; re-ID {args.arch}@{args.input} (random weights), K={args.crops}"
    )
    print(
        f"scene: {args.cameras} cameras, {args.seconds:.0f} s at {scene.fps:g} fps, {scene.size[0]}x{scene.size[1]}"
    )
    print()
    print(f"{'detector':<10}{'det+track fps':>15}{'full fps':>10}{'re-ID overhead':>16}{'tracklets':>11}")
    detectors = [("motion", {}), ("yolo", {"det_weights": "yolo11n.yaml", "conf": 0.25})]
    if args.skip_yolo:
        detectors = detectors[:1]
    for name, extra in detectors:
        cfg = TrackConfig(detector=name, crops_per_track=args.crops, device="cpu", **extra)
        n, t_base = det_track_only(video, cfg)
        m, t_full, k = full_pipeline(video, cfg, embedder, root / f"out-{name}")
        overhead = t_full / t_base - 1.0
        print(f"{name:<10}{n / t_base:>15.1f}{m / t_full:>10.1f}{100 * overhead:>15.1f}%{k:>11}")

    # IDF1 per camera, motion detector, with and without tracklet vectors (rejoin needs them)
    print()
    for label, emb in (("motion, no re-ID", None), ("motion + re-ID rejoin", embedder)):
        out = root / f"idf1-{'reid' if emb else 'plain'}"
        out.mkdir()
        for cam in scene.cameras:
            track_video(scene.videos[cam], cam, TrackConfig(detector="motion", device="cpu"), emb, out)
        scores = evaluate_mot(out / "mot", scene.out / "gt")
        cells = "  ".join(f"{s.name.lower()} {100 * s.idf1:.1f}" for s in scores)
        print(f"IDF1 ({label}): {cells}")

    # memory on long input: frames generated on the fly, the full pipeline with the motion detector
    print()
    marks: dict[str, float] = {}
    fps = 10.0
    one_minute = int(60 * fps)

    def sample(done: int, total: int | None = None, **info) -> None:
        if done == one_minute:
            marks["1 min"] = peak_rss_mb()

    # the network does not change how memory grows; a small one keeps this part short
    small_cfg = ModelConfig(arch="resnet18", pretrained="none", input_size=(64, 64))
    small = CropEmbedder.from_model(
        build_model(small_cfg, load_pretrained=False),
        small_cfg.input_size,
        small_cfg.mean,
        small_cfg.std,
        "cpu",
    )
    long_out = root / "long"
    long_out.mkdir()
    source = GeneratedSource(args.long_minutes * 60, fps)
    start = time.perf_counter()
    result = track_video(
        source,
        "long",
        TrackConfig(detector="motion", crops_per_track=args.crops, device="cpu"),
        small,
        long_out,
        progress=sample,
    )
    marks[f"{args.long_minutes:g} min"] = peak_rss_mb()
    print(
        f"long input: {result.frames} frames in {time.perf_counter() - start:.0f} s, {len(result.tracklets)} tracklets"
    )
    for key, value in marks.items():
        print(f"peak RSS after {key:>7}: {value:8.1f} MB")
    if len(marks) == 2:
        a, b = marks.values()
        print(f"growth: {b - a:+.1f} MB (limit +100 MB)")
    print(f"(scratch files in {root})", file=sys.stderr)


if __name__ == "__main__":
    main()
