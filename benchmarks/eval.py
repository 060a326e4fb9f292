"""Evaluation speed and memory at VehicleID-large size: ours against a straightforward NumPy implementation.

Features: 19,777 rows × 512 (float32, L2-normalised), 2,400 identities, like the VehicleID large test list.
Two kinds: ``random`` (pure noise: every item is a candidate, the worst case for our counting) and ``clustered``
(identity centre + noise, Rank-1 around 90%: what a trained network gives). Both protocols run, the gallery
one with 10 draws.

The peer is what most re-ID code does (fast-reid's ``eval_func``): the full query × gallery distance matrix
(float32), a full ``argsort`` of it, then one loop over queries. Each implementation runs in its own process,
so the peak resident memory (``ru_maxrss``) of each is measured separately; "extra" is the peak minus the
memory held after the features were made. The peer's cost does not depend on the feature values, so by
default it runs once (on the random features) and serves as the peer of both rows; ``--peer-each`` runs it
per kind. The script also checks that both give the same numbers.

    python benchmarks/eval.py [--n 19777] [--ids 2400] [--dim 512] [--repeats 10] [--kinds random,clustered]
                              [--floor]   # also time the products alone (each symmetric pair once)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def make_features(kind: str, n: int, ids: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.sort(
        np.concatenate([np.arange(ids), rng.integers(0, ids, n - ids)])
    )  # every id at least once
    x = rng.standard_normal((n, dim), dtype=np.float32)
    if kind == "clustered":
        centres = rng.standard_normal((ids, dim), dtype=np.float32)
        x = centres[labels] + 2.2 * x
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, labels


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def ours(x: np.ndarray, labels: np.ndarray, repeats: int) -> dict:
    from reid.evaluation.protocols import evaluate_test_list

    out = evaluate_test_list(x, labels, ("paper", "gallery"), repeats=repeats, seed=0)
    return {
        "paper": {k: out["paper"][k] for k in ("rank1", "rank5", "mAP")},
        "gallery": {k: out["gallery"][k]["mean"] for k in ("rank1", "rank5", "mAP")},
    }


def products_only(x: np.ndarray, labels: np.ndarray, repeats: int) -> dict:
    """The floor of any exact evaluation: every distinct similarity computed once (the matrix is symmetric).

    Blocks of 1,024 rows against themselves and every later row: about half of the N² products.
    """
    for start in range(0, len(x), 1024):
        x[start : start + 1024] @ x[start:].T
    nan = {"rank1": float("nan"), "rank5": float("nan"), "mAP": float("nan")}
    return {"paper": nan, "gallery": nan}


def _ap_row(match: np.ndarray) -> tuple[bool, bool, float]:
    hits = np.flatnonzero(match)
    return hits[0] < 1, hits[0] < 5, float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))


def straightforward(x: np.ndarray, labels: np.ndarray, repeats: int) -> dict:
    """Full distance matrix + argsort + per-query loop (the usual re-ID evaluation code)."""
    n = len(x)
    dist = 1.0 - x @ x.T  # (N, N) float32
    np.fill_diagonal(dist, np.inf)
    order = np.argsort(dist, axis=1, kind="stable")  # (N, N) int64
    del dist
    rows = []
    for q in range(n):
        match = labels[order[q, :-1]] == labels[q]  # the last column is the query itself
        if match.any():
            rows.append(_ap_row(match))
    del order
    paper = np.mean(np.array(rows, dtype=np.float64), axis=0) * 100
    rng = np.random.default_rng(0)
    runs = []
    for _ in range(repeats):
        _, first = np.unique(labels, return_index=True)
        sizes = np.diff(np.append(first, n))
        gallery = np.sort(first + (rng.random(len(sizes)) * sizes).astype(np.int64))
        queries = np.setdiff1d(np.arange(n), gallery)
        dist = 1.0 - x[queries] @ x[gallery].T
        order = np.argsort(dist, axis=1, kind="stable")
        match = labels[gallery][order] == labels[queries][:, None]
        runs.append(np.mean([_ap_row(m) for m in match], axis=0) * 100)
    gallery_mean = np.mean(runs, axis=0)
    keys = ("rank1", "rank5", "mAP")
    return {
        "paper": dict(zip(keys, paper.tolist(), strict=True)),
        "gallery": dict(zip(keys, gallery_mean.tolist(), strict=True)),
    }


def child(args: argparse.Namespace) -> None:
    import reid.evaluation.protocols  # noqa: F401  (import time is not evaluation time)

    x, labels = make_features(args.kind, args.n, args.ids, args.dim)
    base = rss_mb()
    fn = {"ours": ours, "straightforward": straightforward, "products": products_only}[args.impl]
    start = time.perf_counter()
    metrics = fn(x, labels, args.repeats)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak, "extra_mb": peak - base, "metrics": metrics}))


def run_child(impl: str, kind: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", "--impl", impl, "--kind", kind, "--n", str(args.n),
           "--ids", str(args.ids), "--dim", str(args.dim), "--repeats", str(args.repeats)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=19777)
    parser.add_argument("--ids", type=int, default=2400)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--kinds", default="random,clustered")
    parser.add_argument(
        "--peer-each", action="store_true", help="run the straightforward peer for every kind"
    )
    parser.add_argument("--floor", action="store_true", help="also time the matrix products alone")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="random", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    kinds = [k for k in args.kinds.split(",") if k]
    print(
        f"{args.n} images x {args.dim}, {args.ids} identities; paper + gallery protocol ({args.repeats} draws)"
    )
    header = f"{'features':<10} {'impl':<16} {'time s':>8} {'peak MB':>8} {'extra MB':>9} {'R@1 paper':>10} {'mAP paper':>10} {'R@1 gallery':>12}"
    print(header)
    print("-" * len(header))
    peer = None
    rows = []
    for kind in kinds:
        mine = run_child("ours", kind, args)
        if peer is None or args.peer_each:
            peer = run_child("straightforward", kind, args)
            peer_kind = kind
        shown = [("ours", mine), (f"numpy ({peer_kind})", peer)]
        if args.floor:
            shown.append(("products only", run_child("products", kind, args)))
        for name, res in shown:
            m = res["metrics"]
            print(f"{kind:<10} {name:<16} {res['seconds']:>8.2f} {res['peak_mb']:>8.0f} {res['extra_mb']:>9.0f} "
                  f"{m['paper']['rank1']:>10.2f} {m['paper']['mAP']:>10.2f} {m['gallery']['rank1']:>12.2f}")  # fmt: skip
        if peer_kind == kind:
            diff = max(abs(mine["metrics"][p][k] - peer["metrics"][p][k]) for p in ("paper", "gallery")
                       for k in ("rank1", "rank5", "mAP"))  # fmt: skip
            print(f"{'':<10} same numbers as the peer: max difference {diff:.2e} percentage points")
        rows.append((kind, mine, peer))
    print()
    for kind, mine, peer in rows:
        print(f"{kind}: ours is {peer['seconds'] / mine['seconds']:.1f}x faster and uses "
              f"{peer['extra_mb'] / max(mine['extra_mb'], 1):.1f}x less extra memory than the straightforward one")  # fmt: skip


if __name__ == "__main__":
    main()
