"""``python -m reid.train``: the per-process entry point for DDP, started by ``torchrun``.

    torchrun --nproc-per-node 4 -m reid.train --config configs/vehicleid_pnp.yaml --out runs/pnp
    torchrun --nnodes 2 --node-rank 0 --rdzv-endpoint host:29500 --nproc-per-node 8 -m reid.train ...

Every process runs the same loop on its share of each P×K batch; rank 0 writes the run folder and reports
one line per epoch on stderr. Expected failures print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reid.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", "-c", default=None, help="training YAML (kind: train)")
    parser.add_argument(
        "--set", "-s", dest="sets", action="append", default=[], help="override key.path=value"
    )
    parser.add_argument("--out", "-o", required=True, help="run folder (best.pt, last.pt, metrics.jsonl)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    parser.add_argument("--overwrite", action="store_true", help="start over in a non-empty --out")
    args = parser.parse_args(argv)

    from reid.errors import ReidError

    try:
        from reid.train.loop import train
        from reid.train.run import load_train_config

        cfg = load_train_config(args.config, args.sets, args.out, args.resume)

        def report(row: dict) -> None:
            sys.stderr.write(json.dumps(row) + "\n")
            sys.stderr.flush()

        def warn(line: str) -> None:
            sys.stderr.write(f"warning: {line}\n")
            sys.stderr.flush()

        result = train(
            cfg, args.out, resume=args.resume, overwrite=args.overwrite, on_epoch=report, on_warning=warn
        )
    except ReidError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return exc.exit_code
    if result.best is not None:
        sys.stderr.write(f"done: best {json.dumps(result.best)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
