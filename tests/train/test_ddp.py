"""DDP on CPU with the gloo backend and two processes: the gathered loss sees the global batch, and
``torchrun -m reid.train`` trains end to end."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _gather_worker(rank: int, world: int, port: int, out_file: str) -> None:
    import torch

    from reid.losses import LossConfig, build_loss
    from reid.train.distributed import DistInfo, all_gather_plain, all_gather_with_grad

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    info = DistInfo(rank=rank, world_size=world, local_rank=rank)
    torch.manual_seed(0)
    net = torch.nn.Linear(8, 4)
    ddp = torch.nn.parallel.DistributedDataParallel(net)
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    y = torch.arange(16) // 4
    share = slice(rank * 8, rank * 8 + 8)
    emb = torch.nn.functional.normalize(ddp(x[share]), dim=1)
    loss = build_loss(LossConfig(name="pnp", variant="Dq"))(
        all_gather_with_grad(emb, info), all_gather_plain(y[share], info)
    )
    loss.backward()
    if rank == 0:
        torch.save(net.weight.grad.clone(), out_file)
    torch.distributed.destroy_process_group()


def test_gathered_loss_gradient_equals_single_process_global_batch(tmp_path):
    import socket

    import torch
    import torch.multiprocessing as mp

    from reid.losses import LossConfig, build_loss

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out_file = str(tmp_path / "grad.pt")
    mp.spawn(_gather_worker, args=(2, port, out_file), nprocs=2, join=True)
    torch.manual_seed(0)
    net = torch.nn.Linear(8, 4)
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(1))
    y = torch.arange(16) // 4
    build_loss(LossConfig(name="pnp", variant="Dq"))(
        torch.nn.functional.normalize(net(x), dim=1), y
    ).backward()
    torch.testing.assert_close(torch.load(out_file), net.weight.grad, rtol=1e-4, atol=1e-6)


def test_torchrun_two_processes_train_and_resume(tiny_vehicleid, tmp_path):
    from reid.config import config_to_yaml
    from reid.models.checkpoint import load_checkpoint

    from .conftest import tiny_config

    cfg = tiny_config(tiny_vehicleid, epochs=1, device="cpu", **{"loss.gather": "true"})
    config_file = tmp_path / "train.yaml"
    config_file.write_text("kind: train\n" + config_to_yaml(cfg))
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node=2",
        "-m",
        "reid.train",
        "--config",
        str(config_file),
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["meta"]["world_size"] == 2 and len(ckpt["train_state"]["rng"]) == 2
    # Resume for one more epoch on the same two processes.
    more = cmd + ["--resume", "--set", "epochs=2"]
    done = subprocess.run(more, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert load_checkpoint(out / "last.pt")["train_state"]["epoch"] == 2
