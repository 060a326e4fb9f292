"""PNP loss: this implementation against pytorch-metric-learning's PNPLoss, forward + backward.

    python benchmarks/pnp_loss.py                       # CPU, B = 128, 384, 1024, K = 4, D = 512
    python benchmarks/pnp_loss.py --device cuda         # the GPU row
    python benchmarks/pnp_loss.py --sizes 384 --repeats 10 --variant O

For every batch size it prints the median time of one forward + backward, the peak memory that step needs,
and the largest differences between the two implementations (loss, and gradient relative to its largest
entry), computed on the same input.

How time is measured: both implementations run in this process on the same input, their steps alternating
(ours, reference, ours, ...) after one warm-up each, so that a busy machine slows both alike; the median is
reported. How peak memory is measured: every (implementation, B) runs in a fresh subprocess so that one
case's allocations cannot hide another's. On CPU the subprocess runs a warm-up step, resets the kernel's
peak-resident-memory mark (``echo 5 > /proc/self/clear_refs``, Linux), runs one more step and reads the new peak
(``VmHWM`` in ``/proc/self/status``): the difference is the extra memory that step needed at its peak. glibc
is told to return freed blocks above 128 KiB to the system at once (``MALLOC_MMAP_THRESHOLD_``), so memory
freed by the warm-up step is not silently reused. On CUDA it is ``torch.cuda.max_memory_allocated()`` minus
the memory held before the first step.

The reference builds ``B x B x B`` tensors (about 44 bytes per element at its peak); it is skipped where that
estimate exceeds half of the machine's memory (``--ref-max-gb`` changes the limit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REF_BYTES_PER_CUBE_ELEMENT = 44  # measured: 2.5 GB at B = 384 in float32


def _inputs(b: int, k: int, dim: int, device: str):
    import torch

    gen = torch.Generator().manual_seed(b)
    x = torch.randn(b, dim, generator=gen).to(device)
    labels = torch.arange(b // k).repeat_interleave(k)[:b]
    return x, labels[torch.randperm(b, generator=gen)].to(device)


def _loss_fn(impl: str, variant: str):
    if impl == "ours":
        from reid.losses import PNPLoss
    else:
        from pytorch_metric_learning.losses import PNPLoss
    return PNPLoss(variant=variant, alpha=4.0, anneal=0.01, b=2.0)


def _step(loss_fn, x, labels) -> tuple[float, float]:
    """One forward + backward: (seconds, loss)."""
    import torch

    cuda = x.device.type == "cuda"
    x.grad = None
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    loss = loss_fn(x, labels)
    loss.backward()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start, loss.item()


def _memory_child(impl: str, device: str, b: int, k: int, dim: int, variant: str) -> None:
    """Print the peak extra memory (bytes) of one forward + backward, in a fresh process."""
    import torch

    loss_fn = _loss_fn(impl, variant)
    x0, labels = _inputs(b, k, dim, device)
    x = x0.clone().requires_grad_()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        _step(loss_fn, x, labels)
        peak = torch.cuda.max_memory_allocated() - before
    else:
        _step(
            loss_fn, x, labels
        )  # warm-up: one-time allocations (thread pools, autograd engine) are not the loss's
        before = _reset_peak_rss()
        _step(loss_fn, x, labels)
        peak = _status_kib("VmHWM") * 1024 - before
    print(json.dumps({"peak": peak}))


def _status_kib(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status")


def _reset_peak_rss() -> int:
    """Reset the peak resident memory (VmHWM) to the current one and return it in bytes (Linux)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")
    return _status_kib("VmHWM") * 1024


def _peak_memory(impl: str, args: argparse.Namespace, b: int) -> float | None:
    cmd = [sys.executable, __file__, "--memory-child", impl, "--device", args.device, "--k", str(args.k)]
    cmd += ["--dim", str(args.dim), "--variant", args.variant, "--sizes", str(b)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    # A fixed mmap threshold makes glibc return every freed block above 128 KiB to the system at once, so the
    # warm-up step's freed memory cannot be silently reused by the measured step.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  {impl} at B={b} failed: {tail}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak"]


def _time_and_compare(args: argparse.Namespace, b: int, with_ref: bool) -> dict[str, float]:
    """Median step times, alternating the two implementations so both see the same machine load."""
    x0, labels = _inputs(b, args.k, args.dim, args.device)
    impls = ["ours", "ref"] if with_ref else ["ours"]
    fns = {impl: _loss_fn(impl, args.variant) for impl in impls}
    xs = {impl: x0.clone().requires_grad_() for impl in impls}
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    losses: dict[str, float] = {}
    for impl in impls:  # warm-up
        _step(fns[impl], xs[impl], labels)
    for i in range(args.repeats):
        for impl in impls:
            if impl == "ref" and i >= args.ref_repeats:
                continue
            seconds, losses[impl] = _step(fns[impl], xs[impl], labels)
            times[impl].append(seconds)
    result = {f"{impl}_s": statistics.median(times[impl]) for impl in impls}
    if with_ref:
        result["d_loss"] = abs(losses["ours"] - losses["ref"]) / max(abs(losses["ref"]), 1e-30)
        g_ours, g_ref = xs["ours"].grad, xs["ref"].grad
        result["d_grad"] = ((g_ours - g_ref).abs().max() / g_ref.abs().max().clamp_min(1e-30)).item()
    return result


def _memory_limit_bytes(args: argparse.Namespace) -> float:
    if args.ref_max_gb is not None:
        return args.ref_max_gb * 1e9
    if args.device.startswith("cuda"):
        import torch

        return torch.cuda.mem_get_info()[0] * 0.8
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 384, 1024], help="batch sizes B")
    parser.add_argument("--k", type=int, default=4, help="images per identity")
    parser.add_argument("--dim", type=int, default=512, help="embedding size D")
    parser.add_argument("--variant", default="Dq", help="PNP variant")
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per case (median reported)")
    parser.add_argument("--ref-repeats", type=int, default=5, help="at most this many timed reference steps")
    parser.add_argument(
        "--ref-max-gb", type=float, default=None, help="skip the reference above this estimate"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument("--memory-child", choices=["ours", "ref"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "auto":
        from reid.device import resolve_device

        args.device = resolve_device("auto")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.memory_child:
        _memory_child(args.memory_child, args.device, args.sizes[0], args.k, args.dim, args.variant)
        return

    import torch

    limit = _memory_limit_bytes(args)
    print(
        f"PNP-{args.variant} forward + backward, K={args.k}, D={args.dim}, device={args.device}, "
        f"torch threads={torch.get_num_threads()}, median of {args.repeats} (reference: {args.ref_repeats})"
    )
    header = ["B", "ours ms", "ref ms", "speed-up", "ours peak MB", "ref peak MB", "memory ratio"]
    header += ["Δloss rel", "Δgrad rel"]
    rows: list[list[str]] = []
    for b in args.sizes:
        with_ref = b**3 * REF_BYTES_PER_CUBE_ELEMENT <= limit
        timing = _time_and_compare(args, b, with_ref)
        ours_peak = _peak_memory("ours", args, b)
        ref_peak = _peak_memory("ref", args, b) if with_ref else None
        row = [str(b), f"{timing['ours_s'] * 1e3:.1f}"]
        if with_ref:
            row += [f"{timing['ref_s'] * 1e3:.0f}", f"{timing['ref_s'] / timing['ours_s']:.0f}x"]
        else:
            row += ["skipped", "—"]
        row.append(f"{ours_peak / 2**20:.1f}" if ours_peak is not None else "failed")
        row.append(
            f"{ref_peak / 2**20:.0f}" if ref_peak is not None else ("skipped" if not with_ref else "failed")
        )
        row.append(f"{ref_peak / max(ours_peak, 1):.0f}x" if ours_peak and ref_peak else "—")
        row += [f"{timing['d_loss']:.1e}", f"{timing['d_grad']:.1e}"] if with_ref else ["—", "—"]
        rows.append(row)
        print("  " + " | ".join(row), file=sys.stderr, flush=True)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


if __name__ == "__main__":
    main()
