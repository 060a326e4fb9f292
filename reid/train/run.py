"""Helpers shared by the two entry points of training (``reid train`` and ``python -m reid.train``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from reid.errors import ConfigError
from reid.train.config import TrainConfig


def load_train_config(
    config: str | Path | None, overrides: Sequence[str], out_dir: str | Path, resume: bool
) -> TrainConfig:
    """The run's config: ``--config`` (or, when resuming without one, the run's own ``config.yaml``) + ``--set``."""
    from reid.config import load_config

    if config is None and resume:
        stored = Path(out_dir) / "config.yaml"
        if stored.is_file():
            config = stored
    if config is None and not overrides:
        raise ConfigError(
            "no training config given", "pass --config configs/vehicleid_pnp.yaml (and --set key=value)"
        )
    return load_config(TrainConfig, config, overrides)


def torchrun_command(
    nproc: int, config_file: str | Path, out_dir: str | Path, resume: bool, overwrite: bool, nnodes: int = 1
) -> list[str]:
    """The ``torchrun`` command line that runs ``python -m reid.train`` on ``nproc`` processes of this machine."""
    if nproc < 1:
        raise ConfigError(f"--devices must be at least 1, got {nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc}"]
    cmd += ["--standalone"] if nnodes == 1 else []
    cmd += ["-m", "reid.train", "--config", str(config_file), "--out", str(out_dir)]
    if resume:
        cmd.append("--resume")
    if overwrite:
        cmd.append("--overwrite")
    return cmd
