"""Settings of ``reid eval`` (YAML ``kind: eval``); command-line flags override them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reid.config import ConfigModel


class RerankConfig(ConfigModel):
    """k-reciprocal re-ranking (Zhong et al. 2017); the defaults are the paper's."""

    enabled: bool = False
    k1: int = Field(20, ge=1, description="size of the k-reciprocal neighbour lists")
    k2: int = Field(6, ge=1, description="neighbours averaged in local query expansion")
    lam: float = Field(
        0.3, ge=0.0, le=1.0, description="weight of the original distance in the final distance"
    )


class EvalConfig(ConfigModel):
    """How embeddings are produced and which protocols run."""

    protocol: Literal["paper", "gallery", "both"] = "both"  # VehicleID only
    repeats: int = Field(10, ge=1, description="gallery-protocol draws")
    seed: int = 0
    rerank: RerankConfig = RerankConfig()
    device: str = "auto"
    batch_size: int = Field(128, ge=1)
    num_workers: int = Field(2, ge=0)
