"""Synthetic data generation speed: each writer at its default size, against the peer that matters for it.

    python benchmarks/synth_speed.py               # defaults: 3-camera 30 s 10 fps 640x360 scene, both datasets
    python benchmarks/synth_speed.py --repeats 3

Scene: the peer is real time. The row reports seconds of generation and how many times faster than the
cameras would record the same footage (camera-seconds of video per second of generation). Datasets: the peer
is decoding the same images with OpenCV, the least a training loader must spend per image; the ratio says how
many decodes cost as much as generating one image. Every run writes to a fresh temporary folder; the median
of ``--repeats`` runs is shown.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            fn(Path(tmp) / "out")
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _decode_time(folder: Path, repeats: int) -> tuple[float, int]:
    import cv2

    files = sorted(folder.rglob("*.jpg"))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for f in files:
            cv2.imread(str(f))
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import cv2

    cv2.setNumThreads(1)
    from rich.console import Console
    from rich.table import Table

    from reid.synth.scene import write_scene
    from reid.synth.vehicleid import write_vehicleid
    from reid.synth.veri import write_veri

    table = Table(title=f"synthetic data generation (median of {args.repeats} runs)")
    for col in ("writer", "output", "generate (s)", "peer", "peer (s)", "ratio"):
        table.add_column(col, justify="right" if col.endswith("(s)") or col == "ratio" else "left")

    scene_s = _median_time(lambda out: write_scene(out), args.repeats)
    video_s = 3 * 30.0
    table.add_row(
        "scene",
        "3 cams x 30 s x 10 fps, 640x360",
        f"{scene_s:.2f}",
        "real time (camera-seconds)",
        f"{video_s:.0f}",
        f"{video_s / scene_s:.1f}x faster",
    )

    for name, writer in (("vehicleid", write_vehicleid), ("veri", write_veri)):
        gen_s = _median_time(lambda out, w=writer: w(out), args.repeats)
        with tempfile.TemporaryDirectory() as tmp:
            root = writer(Path(tmp) / "out")
            dec_s, n = _decode_time(root, args.repeats)
        table.add_row(
            name,
            f"{n} images, 128x128 (defaults)",
            f"{gen_s:.2f}",
            "cv2.imread of the same files",
            f"{dec_s:.3f}",
            f"{gen_s / dec_s:.1f}x slower",
        )
    Console(width=130).print(table)


if __name__ == "__main__":
    main()
