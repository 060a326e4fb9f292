"""PNP-Dq vs PNP-Iu vs Smooth-AP: the same network, data, seed and budget; held-out Recall@1/@5 and mAP.

Trains a small random-initialised network on a synthetic VehicleID set (reid.synth) on the CPU, once per
loss, and prints a table (also written as Markdown with --out, for docs/benchmarks.md). The untrained
network is measured too, as the floor.

    python benchmarks/train_compare.py [--epochs 3] [--batches 25] [--out train_compare.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

LOSSES = [
    ("PNP-Dq", {"name": "pnp", "variant": "Dq"}),
    ("PNP-Iu", {"name": "pnp", "variant": "Iu"}),
    ("Smooth-AP", {"name": "smoothap"}),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=25, help="batches per epoch")
    parser.add_argument("--ids", type=int, default=40, help="synthetic training identities (incl. held out)")
    parser.add_argument("--val-ids", type=int, default=12)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--p", type=int, default=8)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", default=None, help="also write the table as Markdown to this file")
    args = parser.parse_args(argv)

    import torch

    from reid.io import atomic_write_text
    from reid.models.embedder import build_model
    from reid.synth.vehicleid import write_vehicleid
    from reid.train.config import TrainConfig
    from reid.train.data import load_train_data
    from reid.train.loop import train
    from reid.train.state import seed_everything
    from reid.train.validate import validate

    work = Path(args.work or tempfile.mkdtemp(prefix="reid-train-compare-"))
    root = work / "VehicleID"
    if not root.exists():
        write_vehicleid(
            root,
            num_train_ids=args.ids,
            num_test_ids=2,
            images_per_id=(4, 6),
            size=(args.size, args.size),
            seed=args.seed,
            near_duplicate_rate=0.0,
        )

    def config(loss: dict) -> TrainConfig:
        return TrainConfig.model_validate(
            {
                "model": {
                    "arch": args.arch,
                    "pretrained": "none",
                    "input_size": [args.size, args.size],
                    "embedding_dim": 64,
                },
                "data": {"root": str(root), "val_ids": args.val_ids, "num_workers": 0},
                "sampler": {"p": args.p, "k": args.k, "batches_per_epoch": args.batches},
                "augment": {"erasing": 0.0},
                "loss": loss,
                "optim": {"lr": args.lr},
                "epochs": args.epochs,
                "val_every": args.epochs,
                "seed": args.seed,
            }
        )

    base = config(LOSSES[0][1])
    data = load_train_data(base)
    seed_everything(base.seed)
    floor = validate(
        build_model(base.model),
        data.val,
        base.model.input_size,
        base.model.mean,
        base.model.std,
        torch.device("cpu"),
        64,
        0,
    )
    rows = [("untrained", floor, 0.0)]
    for name, loss in LOSSES:
        started = time.perf_counter()
        result = train(config(loss), work / f"run-{name}", overwrite=True)
        rows.append((name, result.history[-1], time.perf_counter() - started))

    head = (
        f"{args.arch} {args.size}x{args.size}, random init, {args.epochs}x{args.batches} batches of "
        f"{args.p}x{args.k}, Adam lr {args.lr}, seed {args.seed}; {len(data.train)} training images, "
        f"{len(data.val)} held-out images of {args.val_ids} identities"
    )
    lines = [head, "", "| loss | R@1 | R@5 | mAP | train s |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, m, secs in rows:
        lines.append(f"| {name} | {m['rank1']:.1f} | {m['rank5']:.1f} | {m['mAP']:.1f} | {secs:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
