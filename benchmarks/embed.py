"""Crops per second of the embedding network: naive eager PyTorch vs the optimised path vs plain onnxruntime.

Same network (random weights, the shapes are what matter), same crops, same run:

* naive       torchvision eager fp32, one crop at a time, NumPy preprocessing (what a first version does);
* ours        ``CropEmbedder`` (reid.models.inference): batched; on CPU onnxruntime with normalisation in the
              graph and uint8 input, on GPU inference_mode + channels_last + bf16 autocast;
* ours-torch  the same batched path forced to PyTorch (inference_mode, channels_last);
* onnxruntime the network exported to ONNX and run batched with NumPy preprocessing (the peer to beat).

    python benchmarks/embed.py [--arch resnet50] [--size 224] [--crops 64] [--batch 32] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np


def best_of(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, lazy init, autotuning)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--crops", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import cv2
    import torch

    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model
    from reid.models.export import onnx_bytes, ort_session
    from reid.models.inference import CropEmbedder

    os.environ.setdefault("REID_CACHE_DIR", tempfile.mkdtemp(prefix="reid-bench-"))
    rng = np.random.default_rng(0)
    crops = [
        rng.integers(0, 255, (int(rng.integers(60, 200)), int(rng.integers(60, 200)), 3), dtype=np.uint8)
        for _ in range(args.crops)
    ]
    cfg = ModelConfig(arch=args.arch, pretrained="none", input_size=(args.size, args.size))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    mean, std = np.array(cfg.mean, np.float32), np.array(cfg.std, np.float32)
    device = torch.device(args.device)

    def prep(crop: np.ndarray) -> np.ndarray:
        rgb = cv2.resize(crop, (args.size, args.size))[:, :, ::-1].astype(np.float32) / 255.0
        return ((rgb - mean) / std).transpose(2, 0, 1)

    naive_model = build_model(cfg).eval().to(device)
    naive_model.load_state_dict(model.state_dict())

    def naive() -> None:
        with torch.no_grad():
            for crop in crops:
                naive_model(torch.from_numpy(prep(crop))[None].to(device)).cpu()

    rows: list[tuple[str, float]] = []
    rows.append(("naive (eager fp32, 1 crop at a time)", best_of(naive, args.repeats)))
    ours = CropEmbedder.from_model(
        model, cfg.input_size, cfg.mean, cfg.std, device=args.device, batch_size=args.batch
    )
    rows.append(
        (f"ours ({ours.backend}, batch {args.batch})", best_of(lambda: ours.embed(crops), args.repeats))
    )
    ours_torch = CropEmbedder.from_model(
        model, cfg.input_size, cfg.mean, cfg.std, device=args.device, batch_size=args.batch, backend="torch"
    )
    label = "bf16 autocast, channels_last" if device.type == "cuda" else "inference_mode, channels_last"
    rows.append((f"ours-torch ({label})", best_of(lambda: ours_torch.embed(crops), args.repeats)))
    peer = None
    if device.type == "cpu":
        session = ort_session(onnx_bytes(model, cfg.input_size, cfg.mean, cfg.std, preprocess=False, batch=2))

        def ort_plain() -> None:
            for i in range(0, len(crops), args.batch):
                batch = np.stack([prep(c) for c in crops[i : i + args.batch]])
                session.run(None, {"images": batch})

        peer = best_of(ort_plain, args.repeats)
        rows.append((f"onnxruntime (float input, NumPy preprocessing, batch {args.batch})", peer))

    naive_t = rows[0][1]
    print(
        f"{args.arch} {args.size}x{args.size}, {args.crops} crops, device {args.device}, torch threads "
        f"{torch.get_num_threads()}"
    )
    print(f"{'path':<62} {'crops/s':>9} {'vs naive':>9} {'vs onnxruntime':>15}")
    for name, t in rows:
        vs_peer = f"{peer / t:.2f}x" if peer else "-"
        print(f"{name:<62} {args.crops / t:>9.1f} {naive_t / t:>8.2f}x {vs_peer:>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
