"""Crops per second of the embedding network: naive eager PyTorch vs the optimised path vs plain onnxruntime.

Same network (random weights, the shapes are what matter), same crops, same run:

* naive       torchvision eager fp32, one crop at a time, NumPy preprocessing (what a first version does);
* ours        ``CropEmbedder`` (reid.models.inference): batched; on CPU onnxruntime with normalisation in the
              graph and uint8 input, on GPU inference_mode + channels_last + bf16 autocast;
* ours-torch  the same batched path forced to PyTorch (inference_mode, channels_last);
* onnxruntime the network exported to ONNX and run batched with NumPy preprocessing (the peer to beat).

With ``--fastreid`` the network is fast-reid's VeRi SBS R50-ibn layout (IBN-a, non-local blocks, learned GeM,
BNNeck, 2048-d, 256x256, bicubic resize) brought in the way a user does: a fast-reid checkpoint file (random
weights under fast-reid's key names) imported with ``reid weights import fastreid``; the onnxruntime row runs
the file ``reid export onnx`` writes for it.

    python benchmarks/embed.py [--arch resnet50] [--size 224] [--crops 64] [--batch 32] [--device cpu|cuda]
    python benchmarks/embed.py --fastreid [--crops 32] [--device cpu|cuda]
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
    parser.add_argument(
        "--fastreid", action="store_true", help="the imported fast-reid R50-ibn (256x256, 2048-d)"
    )
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
    exported = None
    if args.fastreid:
        cfg, model, exported = imported_fastreid(tempfile.mkdtemp(prefix="reid-bench-fastreid-"))
        args.arch, args.size = "fastreid R50-ibn (imported)", cfg.input_size[0]
    else:
        cfg = ModelConfig(arch=args.arch, pretrained="none", input_size=(args.size, args.size))
        torch.manual_seed(0)
        model = build_model(cfg).eval()
    mean, std = np.array(cfg.mean, np.float32), np.array(cfg.std, np.float32)
    device = torch.device(args.device)

    from reid.data.transforms import resize_to_rgb

    def prep(crop: np.ndarray) -> np.ndarray:
        if cfg.interpolation == "bicubic":  # the same filter as the path under test
            rgb = resize_to_rgb(crop, cfg.input_size, "bicubic").astype(np.float32) / 255.0
        else:
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
        model, cfg.input_size, cfg.mean, cfg.std, device=args.device, batch_size=args.batch,
        interpolation=cfg.interpolation,
    )  # fmt: skip
    rows.append(
        (f"ours ({ours.backend}, batch {args.batch})", best_of(lambda: ours.embed(crops), args.repeats))
    )
    ours_torch = CropEmbedder.from_model(
        model, cfg.input_size, cfg.mean, cfg.std, device=args.device, batch_size=args.batch, backend="torch",
        interpolation=cfg.interpolation,
    )  # fmt: skip
    label = "bf16 autocast, channels_last" if device.type == "cuda" else "inference_mode, channels_last"
    rows.append((f"ours-torch ({label})", best_of(lambda: ours_torch.embed(crops), args.repeats)))
    peer = None
    if device.type == "cpu":
        if exported is not None:  # the file `reid export onnx` wrote
            session = ort_session(str(exported))
        else:
            session = ort_session(
                onnx_bytes(model, cfg.input_size, cfg.mean, cfg.std, preprocess=False, batch=2)
            )

        def ort_plain() -> None:
            for i in range(0, len(crops), args.batch):
                batch = np.stack([prep(c) for c in crops[i : i + args.batch]])
                session.run(None, {"images": batch})

        peer = best_of(ort_plain, args.repeats)
        what = "reid export onnx file" if exported is not None else "float input"
        rows.append((f"onnxruntime ({what}, NumPy preprocessing, batch {args.batch})", peer))

    naive_t = rows[0][1]
    print(
        f"{args.arch} {args.size}x{args.size}, {args.crops} crops, device {args.device}, torch threads "
        f"{torch.get_num_threads()}"
    )
    print(f"{'path':<68} {'crops/s':>9} {'vs naive':>9} {'vs onnxruntime':>15}")
    for name, t in rows:
        vs_peer = f"{peer / t:.2f}x" if peer else "-"
        print(f"{name:<68} {args.crops / t:>9.1f} {naive_t / t:>8.2f}x {vs_peer:>15}")
    return 0


def imported_fastreid(folder: str):
    """fast-reid's VeRi SBS R50-ibn as a user gets it: a fast-reid file, imported, exported to ONNX."""
    import torch

    from reid.models.checkpoint import model_from_checkpoint
    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model
    from reid.models.export import export_onnx
    from reid.models.fastreid_import import import_fastreid

    sbs = ModelConfig(
        arch="fastreid_resnet50", pretrained="none", ibn=True, non_local=(0, 2, 3, 0), non_local_channels=1,
        last_stride=1, pooling="gem", embedding_dim=None, input_size=(256, 256),
    )  # fmt: skip
    torch.manual_seed(0)
    names = {"pool.p": "heads.pool_layer.p"}  # fast-reid's key names for the head; backbone.* are the same
    state = {
        names.get(k, k.replace("neck.", "heads.bottleneck.0.", 1)): v.reshape(1) if k == "pool.p" else v
        for k, v in build_model(sbs).state_dict().items()
    }
    state["heads.weight"] = torch.zeros(576, 2048)  # the classifier over VeRi's training identities
    torch.save({"model": state}, f"{folder}/veri_sbs_R50-ibn.pth")
    result = import_fastreid(f"{folder}/veri_sbs_R50-ibn.pth", f"{folder}/veri_sbs.pt")
    export_onnx(result.out, f"{folder}/veri_sbs.onnx", dynamic_batch=True)
    return result.model_config, model_from_checkpoint(result.out), f"{folder}/veri_sbs.onnx"


if __name__ == "__main__":
    sys.exit(main())
