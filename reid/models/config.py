"""The schema of the embedding network: everything needed to rebuild it and to feed it images.

The same object is stored inside every checkpoint, so a checkpoint alone is enough to rebuild the network
and its preprocessing (input size, mean, std) without the YAML it was trained from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from reid.config import ConfigModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelConfig(ConfigModel):
    """Backbone, pooling, neck and embedding size of the re-ID network, plus its input preprocessing."""

    arch: str = Field("resnet50", description="torchvision backbone (see reid.models.backbones.BACKBONES)")
    pretrained: str = Field(
        "imagenet",
        description="'imagenet' (torchvision weights, downloaded once), 'none' (random init) or a local .pth file",
    )
    pooling: Literal["gem", "avg"] = "gem"
    gem_p: float = Field(3.0, gt=0, description="initial GeM exponent (learnable)")
    embedding_dim: int = Field(512, ge=8, le=8192)
    bnneck: bool = True
    freeze_bn: bool = Field(False, description="keep BatchNorm running statistics fixed while training")
    input_size: tuple[int, int] = Field((256, 256), description="(height, width) fed to the network")
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value: str) -> str:
        from reid.models.backbones import BACKBONES

        if value not in BACKBONES:
            raise ValueError(f"unknown backbone {value!r}; valid: {', '.join(BACKBONES)}")
        return value

    @field_validator("input_size")
    @classmethod
    def _positive_size(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 16:
            raise ValueError("input_size must be at least 16 pixels on each side")
        return value

    @field_validator("std")
    @classmethod
    def _positive_std(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) <= 0:
            raise ValueError("std values must be positive")
        return value


class EmbedConfig(ConfigModel):
    """How ``reid embed`` runs the network (YAML ``kind: embed``); the network itself comes from its checkpoint."""

    device: str = Field("auto", description="auto (CUDA when present), cpu, cuda, cuda:N")
    batch_size: int = Field(128, ge=1, description="images per batch")
    num_workers: int = Field(2, ge=0, description="decoding worker processes")
