"""Single-camera tracking throughput, re-ID overhead, memory on long input and IDF1 on a synthetic scene.

    python benchmarks/track.py [--seconds 30] [--long-minutes 10] [--arch resnet50 --input 256] [--skip-yolo]

1. Throughput: on camera 1 of a synthetic scene, frames per second of detection + tracking alone (detector and
   tracker calls only) and of the full pipeline (best-K crops, tracklet vectors, rejoin, MOT output), in the same
   run, for the motion detector and for YOLO11n (random weights from yolo11n.yaml: the cost of a trained one; it
   runs on every frame, and the motion detector's boxes stand in for what a trained one would find, since a
   random network finds nothing). Two re-ID settings: the default network (resnet50 at 256 px) with the default
   K = 4 crops per track, and a lighter one (--light-arch/--light-input/--light-crops, resnet18 at 128 px, K = 4);
   random weights cost what trained ones do. "overhead" compares the full
   pipeline with the separate detection + tracking runs; "in-run overhead" is the time the full pipeline itself
   spent on re-ID (crop selection, embedding, rejoin) over the rest of that same run, which load from other
   jobs on a shared machine distorts much less.
2. Memory: the full pipeline with the motion detector on ``--long-minutes`` of frames generated on the fly
   (nothing stored); peak RSS after one minute of video and at the end.
3. IDF1 of every camera of the scene with the motion detector (TrackEval through `reid eval mot`, IoU 0.5).
4. Motion detector speed (``--parts motion``, not run by default): detector + ByteTrack frames per second of the
   motion detector against the peer, plain MOG2 + ByteTrack (``cv2.createBackgroundSubtractorMOG2`` with its
   defaults applied once per frame, connected components to boxes, the same ``CameraTracker``), in the same run,
   on ``--video`` (OpenCV's vtest.avi, 768x576; see VTEST_HINT for where to get it) and on camera 1 of the
   synthetic scene. Frames are decoded into memory first; one warm-up pair, then ``--repeats`` pairs, ours and
   the peer back to back in alternating order; the medians and the median of the per-pair ratios. Then every
   camera of the scene in its own process at once (three streams on this machine's cores): total frames per
   second, which real time at 10 fps per stream needs above 10 x cameras.

    python benchmarks/track.py --parts motion [--video vtest.avi] [--repeats 5] [--motion-frames 300]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from reid.video.sources import Frame, FrameSource

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM, which reset_peak_rss restarts; ru_maxrss elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_rss() -> bool:
    """Restart the peak so that earlier phases (other networks) do not hide growth (Linux only)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class YoloCostMotionBoxes:
    """YOLO11n's full cost (random weights from yolo11n.yaml, 640 px) with the motion detector's boxes.

    A randomly initialised YOLO finds nothing, so on its own it would create no tracks and no re-ID work; this
    runs it on every frame for its cost and reports the motion detector's vehicles, so that the re-ID overhead is
    measured against YOLO-speed detection with a realistic number of tracks.
    """

    def __init__(self) -> None:
        from reid.video.detectors import MotionDetector, YoloDetector

        self.yolo = YoloDetector("yolo11n.yaml", imgsz=640, device="cpu")
        self.yolo.detect([np.zeros((360, 640, 3), np.uint8)])  # Ultralytics sets itself up on the first call
        self.motion = MotionDetector()
        self.names = self.motion.names

    def detect(self, frames):
        self.yolo.detect(frames)
        return self.motion.detect(frames)


def make_detector(name: str):
    from reid.video.config import TrackConfig
    from reid.video.detectors import build_detector

    if name == "yolo":
        return YoloCostMotionBoxes()
    return build_detector(TrackConfig(detector="motion"))


def det_track_only(video: Path, config, detector_name: str) -> tuple[int, float]:
    """Frames and seconds for detector + tracker calls alone (the baseline of the re-ID overhead)."""
    from reid.video.config import load_tracker_config
    from reid.video.sources import open_source
    from reid.video.tracking import CameraTracker

    src = open_source(video)
    detector = make_detector(detector_name)
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


def full_pipeline(
    video: Path, config, embedder, out: Path, detector_name: str
) -> tuple[int, float, int, float]:
    from reid.video.pipeline import track_video

    out.mkdir(parents=True, exist_ok=True)
    detector = make_detector(detector_name)  # built before the clock starts, like the baseline's
    start = time.perf_counter()
    result = track_video(video, video.stem, config, embedder, out, detector=detector)
    return result.frames, time.perf_counter() - start, len(result.tracklets), result.reid_seconds


class GeneratedSource(FrameSource):
    """Endless traffic drawn on the fly: coloured boxes crossing a static background, new ones keep coming."""

    def __init__(self, seconds: float, fps: float = 10.0, size: tuple[int, int] = (320, 192), seed: int = 0):
        super().__init__("generated", 1)
        self.fps = fps
        self.total_frames = int(seconds * fps)
        self.size = size
        self.seed = seed

    def __iter__(self) -> Iterator:
        import cv2

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


# --- motion detector against plain MOG2 + ByteTrack -------------------------------------------------------

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
VTEST_HINT = (
    "vtest.avi (768x576, OpenCV's sample) comes with Debian's opencv-doc package: `apt-get install opencv-doc`, "
    "then `dpkg -L opencv-doc | grep vtest` gives its path for --video (a .gz is unpacked by this script)"
)


class PlainMog2:
    """The peer: OpenCV's MOG2 with its defaults, applied once per frame; shadows (127) dropped; outer contours
    (the cheaper of contours and connectedComponentsWithStats) of at least the motion detector's ``min_area``
    become boxes, scored like ours by how much of their box they fill. No morphology, no ghosts, no median start."""

    def __init__(self, min_area: float = 0.0006) -> None:
        import cv2

        self.bg = cv2.createBackgroundSubtractorMOG2()
        self.min_area = min_area
        self.names = {2: "car"}

    def detect(self, frames):
        import cv2

        from reid.types import Detections

        out = []
        for frame in frames:
            mask = self.bg.apply(frame)
            _, mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            boxes, scores = [], []
            for contour in contours:
                x, y, w, h = cv2.boundingRect(contour)
                if w * h >= self.min_area * mask.size:
                    boxes.append((x, y, x + w, y + h))
                    scores.append(min(1.0, 0.35 + 0.65 * cv2.contourArea(contour) / (w * h)))
            if not boxes:
                out.append(Detections.empty())
                continue
            out.append(
                Detections(np.array(boxes, np.float32), np.array(scores, np.float32), np.full(len(boxes), 2))
            )
        return out


def load_frames(path: Path, limit: int) -> tuple[list[np.ndarray], float]:
    """Decoded frames held in memory (decoding is not what is compared) and the video's frame rate."""
    from reid.video.sources import open_source

    src = open_source(path)
    frames = []
    for frame in src:
        frames.append(frame.image)
        if limit and len(frames) >= limit:
            break
    return frames, src.fps


def find_vtest(path: Path, scratch: Path) -> Path | None:
    """``path`` itself, or its gzipped copy unpacked into ``scratch``; None (with a note) when neither exists."""
    import gzip
    import shutil

    gz = path if path.suffix == ".gz" else path.with_name(path.name + ".gz")
    if path.suffix != ".gz" and path.is_file():
        return path
    if gz.is_file():
        plain = scratch / gz.name[: -len(".gz")]
        with gzip.open(gz, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return plain
    print(f"note: {path} not found, the vtest.avi rows are skipped. {VTEST_HINT}")
    return None


def det_track_fps(detector, frames: list[np.ndarray], fps: float, batch: int = 8) -> tuple[float, float]:
    """Frames per second of detector + ByteTrack (the project's CameraTracker) over frames held in memory, and
    the process's CPU milliseconds per frame (all its threads), which other jobs on the machine disturb less."""
    from reid.video.config import load_tracker_config
    from reid.video.tracking import CameraTracker

    tracker = CameraTracker(load_tracker_config("bytetrack"), fps)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(0, len(frames), batch):
        chunk = frames[i : i + batch]
        for image, dets in zip(chunk, detector.detect(chunk), strict=True):
            tracker.update(dets, image)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return len(frames) / wall, 1000.0 * cpu / len(frames)


def motion_contestants(scale: float) -> dict[str, Callable[[], object]]:
    """Detector builders by name: ours with the defaults, the peer, and ours at ``scale`` (unless 0 or 1)."""
    from reid.video.config import MotionConfig, TrackConfig
    from reid.video.detectors import build_detector

    out: dict[str, Callable[[], object]] = {
        "ours": lambda: build_detector(TrackConfig(detector="motion")),
        "peer": PlainMog2,
    }
    if 0 < scale < 1:
        config = TrackConfig(detector="motion", motion=MotionConfig(scale=scale))
        out[f"ours, scale {scale:g}"] = lambda: build_detector(config)
    return out


def motion_vs_peer(
    frames: list[np.ndarray], fps: float, repeats: int, contestants: dict[str, Callable[[], object]]
) -> dict[str, dict[str, float]]:
    """Every contestant once per round (the order rotating), one warm-up round, then ``repeats`` timed rounds;
    per contestant the median fps and CPU ms per frame, and the median (min, max) of its fps over the peer's
    in the same round."""
    names = list(contestants)
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    for r in range(repeats + 1):
        order = names[r % len(names) :] + names[: r % len(names)]
        got = {name: det_track_fps(contestants[name](), frames, fps) for name in order}
        if r == 0:
            continue  # warm-up
        for name in names:
            runs[name].append((*got[name], got[name][0] / got["peer"][0]))
    out = {}
    for name, rows in runs.items():
        fps_, cpu, ratio = (np.array(col) for col in zip(*rows, strict=True))
        out[name] = {
            "fps": float(np.median(fps_)),
            "cpu_ms": float(np.median(cpu)),
            "ratio": float(np.median(ratio)),
            "ratio_min": float(ratio.min()),
            "ratio_max": float(ratio.max()),
        }
    return out


def _stream_worker(video: str, limit: int, barrier, results) -> None:
    from reid.procs import die_with_parent
    from reid.video.config import TrackConfig
    from reid.video.detectors import build_detector

    die_with_parent()
    frames, fps = load_frames(Path(video), limit)
    det_track_fps(build_detector(TrackConfig(detector="motion")), frames[:16], fps)  # warm-up: lazy imports
    detector = build_detector(TrackConfig(detector="motion"))
    barrier.wait()
    start = time.perf_counter()
    det_track_fps(detector, frames, fps)
    results.put((len(frames), time.perf_counter() - start))


def concurrent_streams(videos: list[Path], limit: int) -> tuple[float, float]:
    """Every camera in its own process at once, as ``reid live`` runs them: total frames per second over the
    slowest stream's time, and the slowest stream's own frames per second."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(len(videos)), ctx.Queue()
    procs = [ctx.Process(target=_stream_worker, args=(str(v), limit, barrier, results)) for v in videos]
    for p in procs:
        p.start()
    done = [results.get() for _ in procs]
    for p in procs:
        p.join()
    slowest = max(t for _, t in done)
    return sum(n for n, _ in done) / slowest, min(n / t for n, t in done)


def motion_part(args, scene, root: Path) -> None:
    """Motion detector + ByteTrack against plain MOG2 + ByteTrack, and three streams at once."""
    load = os.getloadavg()[0]
    print(f"motion detector vs plain MOG2 (once per frame) + ByteTrack; load average {load:.1f} at the start")
    print(
        f"{'video':<22}{'frames':>7}  {'detector + ByteTrack':<22}{'fps':>8}{'CPU ms/frame':>14}"
        f"{'vs peer':>9}{'(min-max)':>13}"
    )
    inputs = []
    vtest = find_vtest(Path(args.video), root)
    if vtest is not None:
        inputs.append(vtest)
    inputs.append(scene.videos[scene.cameras[0]])
    contestants = motion_contestants(args.motion_scale)
    for video in inputs:
        frames, fps = load_frames(video, args.motion_frames)
        h, w = frames[0].shape[:2]
        rows = motion_vs_peer(frames, fps, args.repeats, contestants)
        label = f"{video.name} {w}x{h}"
        for name, row in rows.items():
            print(
                f"{label:<22}{len(frames):>7}  {name:<22}{row['fps']:>8.1f}{row['cpu_ms']:>14.2f}"
                f"{row['ratio']:>8.2f}x  {row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
            )
        del frames
    total, slowest = concurrent_streams([scene.videos[c] for c in scene.cameras], args.motion_frames)
    need = 10.0 * len(scene.cameras)
    print(
        f"{len(scene.cameras)} streams at once ({scene.size[0]}x{scene.size[1]}, one process each, ours): "
        f"{total:.1f} fps in total (real time at 10 fps each needs {need:.0f}), slowest stream {slowest:.1f} fps"
    )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the synthetic scene")
    parser.add_argument("--cameras", type=int, default=3)
    parser.add_argument("--arch", default="resnet50", help="re-ID backbone (random weights)")
    parser.add_argument("--input", type=int, default=256, help="re-ID input size (square)")
    parser.add_argument(
        "--crops", type=int, default=4, help="crops kept per track (K, the default of reid track)"
    )
    parser.add_argument(
        "--light-arch", default="resnet18", help="a lighter re-ID setting, compared in the same run"
    )
    parser.add_argument("--light-input", type=int, default=128)
    parser.add_argument("--light-crops", type=int, default=4)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--reid-weights", help="a trained checkpoint: IDF1 with rejoin by that network too")
    parser.add_argument("--skip-yolo", action="store_true")
    parser.add_argument(
        "--parts", default="throughput,idf1,memory", help="comma-separated parts to run (and: motion)"
    )
    parser.add_argument("--video", default=str(VTEST), help="motion part: the vtest.avi to time (or .avi.gz)")
    parser.add_argument(
        "--motion-frames", type=int, default=300, help="motion part: frames per video held in memory (0: all)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="motion part: timed runs after one warm-up")
    parser.add_argument(
        "--motion-scale", type=float, default=0.5, help="motion part: also time ours at this scale (0: not)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

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

    def random_embedder(arch: str, size: int):
        cfg = ModelConfig(arch=arch, pretrained="none", input_size=(size, size))
        emb = CropEmbedder.from_model(
            build_model(cfg, load_pretrained=False), cfg.input_size, cfg.mean, cfg.std, "cpu"
        )
        emb.embed([np.zeros((64, 64, 3), np.uint8)])  # one-time setup is not timed
        return emb

    root = Path(tempfile.mkdtemp(prefix="reid-bench-track-"))
    scene = write_scene(
        root / "scene", cameras=args.cameras, vehicles=4 * args.cameras, seconds=args.seconds, seed=0
    )
    video = scene.videos[scene.cameras[0]]
    print(
        f"machine: {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}"
    )
    print(
        f"scene: {args.cameras} cameras, {args.seconds:.0f} s at {scene.fps:g} fps, {scene.size[0]}x{scene.size[1]}"
    )
    if "motion" in parts:
        motion_part(args, scene, root)
        if parts == {"motion"}:
            print(f"(scratch files in {root})", file=sys.stderr)
            return
        print()
    embedder = random_embedder(args.arch, args.input)
    light = random_embedder(args.light_arch, args.light_input)
    settings = [
        (f"{args.arch}@{args.input}, K={args.crops}", embedder, args.crops),
        (f"{args.light_arch}@{args.light_input}, K={args.light_crops}", light, args.light_crops),
    ]

    print(
        "re-ID networks have random weights (same cost as trained ones); 'yolo' = YOLO11n cost, motion boxes"
    )
    print()
    print(
        f"{'detector':<9}{'re-ID':<22}{'det+track fps':>14}{'full fps':>10}{'overhead':>10}"
        f"{'in-run overhead':>17}{'tracklets':>10}"
    )
    detectors = ["motion"] if args.skip_yolo else ["motion", "yolo"]
    for name in detectors if "throughput" in parts else []:
        # the baseline runs before and after the full pipelines and the faster run counts: on a shared
        # machine this keeps other load from inflating (or hiding) the overhead
        n, t_before = det_track_only(video, TrackConfig(detector="motion"), name)
        rows = []
        for label, emb, k in settings:
            cfg = TrackConfig(detector="motion", crops_per_track=k, device="cpu")
            rows.append((label, *full_pipeline(video, cfg, emb, root / f"out-{name}-{k}-{label[:8]}", name)))
        _, t_after = det_track_only(video, TrackConfig(detector="motion"), name)
        t_base = min(t_before, t_after)
        for label, m, t_full, count, t_reid in rows:
            overhead = t_full / t_base - 1.0
            in_run = t_reid / max(t_full - t_reid, 1e-9)
            print(
                f"{name:<9}{label:<22}{n / t_base:>14.1f}{m / t_full:>10.1f}{100 * overhead:>9.1f}%"
                f"{100 * in_run:>16.1f}%{count:>10}"
            )

    # IDF1 per camera, motion detector, with and without tracklet vectors (rejoin needs them)
    print()
    runs = [("motion, no re-ID", None), ("motion + rejoin, random re-ID network", embedder)]
    if args.reid_weights:
        trained = CropEmbedder.from_checkpoint(args.reid_weights, device="cpu")
        runs.append((f"motion + rejoin, {Path(args.reid_weights).name}", trained))
    for label, emb in runs if "idf1" in parts else []:
        out = root / f"idf1-{len(list(root.glob('idf1-*')))}"
        out.mkdir()
        for cam in scene.cameras:
            track_video(scene.videos[cam], cam, TrackConfig(detector="motion", device="cpu"), emb, out)
        scores = evaluate_mot(out / "mot", scene.out / "gt")
        cells = "  ".join(f"{s.name.lower()} {100 * s.idf1:.1f}" for s in scores)
        print(f"IDF1 ({label}): {cells}")

    # memory on long input: frames generated on the fly, the full pipeline with the motion detector
    if "memory" not in parts:
        return
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
    del embedder, light, settings, runs
    import gc

    gc.collect()
    if not reset_peak_rss():
        print("note: peak RSS cannot be reset here; it includes the earlier phases")
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
