"""DDP plumbing: one process per GPU (or per CPU slot with gloo), started by ``torchrun``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous variables; without them the run is
a plain single process and none of this costs anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1  # processes of this job on this machine (they share its CPU cores)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def from_env() -> DistInfo:
    """Rank information from torchrun's environment variables (single process when absent)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return DistInfo(rank=rank, world_size=world, local_rank=local, local_world_size=max(1, local_world))


def init(device_type: str) -> DistInfo:
    """Join the process group when started by torchrun: NCCL on GPUs, gloo on CPUs."""
    info = from_env()
    if info.enabled and not torch.distributed.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(info.local_rank)
        torch.distributed.init_process_group(backend=backend)
    return info


def shutdown() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        torch.distributed.barrier()


def all_gather_with_grad(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate ``x`` of every rank along dim 0, differentiable with respect to this rank's part.

    ``torch.distributed.nn.functional.all_gather`` sums the incoming gradients of every rank's copy in
    its backward; each rank computes the same global loss, so the local gradient is ``world_size`` times the
    true one, and DDP's averaging over ranks divides it back: the update equals single-GPU training on the
    global batch.
    """
    if not info.enabled:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x.contiguous()), dim=0)


def all_gather_plain(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate ``x`` of every rank along dim 0 (no gradient; for labels)."""
    if not info.enabled:
        return x
    parts = [torch.empty_like(x) for _ in range(info.world_size)]
    torch.distributed.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def any_true(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True when ``flag`` holds on any rank (so that all ranks take the same branch and DDP never hangs)."""
    if not info.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_object(obj, info: DistInfo):
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]
