"""Settings of the engine that runs camera workers (``engine:`` in a track or live config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reid.config import ConfigModel


class EngineConfig(ConfigModel):
    """Which engine runs the camera workers, and what each camera may use of a machine (Ray)."""

    name: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="Ray: the cluster address (default: RAY_ADDRESS, else a local "
                                                  "Ray started for the run)")
    num_cpus_per_camera: float = Field(1.0, gt=0, description="Ray: CPUs reserved for each camera worker")
    num_gpus_per_camera: float = Field(0.0, ge=0, description="Ray: GPUs (or a fraction) for each camera worker")
    max_retries: int = Field(3, ge=0, description="Ray: how often a camera whose worker died is started again")
    shared: Literal["auto", "on", "off"] = Field(
        "auto", description="live cameras in one worker with batched detector and embedder calls (auto: on a "
        "GPU; off: one process per camera)")
