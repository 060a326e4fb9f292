"""The schema of the embedding network: everything needed to rebuild it and to feed it images.

The same object is stored inside every checkpoint, so a checkpoint alone is enough to rebuild the network
and its preprocessing (input size, mean, std) without the YAML it was trained from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from reid.config import ConfigModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelConfig(ConfigModel):
    """Backbone, pooling, neck and embedding size of the re-ID network, plus its input preprocessing."""

    arch: str = Field(
        "resnet50",
        description="backbone: a torchvision trunk (reid.models.backbones.BACKBONES) or fast-reid's ResNet "
        "layout (reid.models.ibn_resnet.IBN_RESNETS: fastreid_resnet50, fastreid_resnet101)",
    )
    pretrained: str = Field(
        "imagenet",
        description="'imagenet' (torchvision weights, downloaded once), 'none' (random init), a local torchvision "
        ".pth file, or a reid checkpoint (.pt) to start from: its backbone, pooling and neck",
    )
    ibn: bool = Field(False, description="IBN-a blocks in stages 1-3 (fastreid_* backbones only)")
    non_local: tuple[int, int, int, int] = Field(
        (0, 0, 0, 0), description="non-local blocks after the last blocks of each stage (fastreid_* only)"
    )
    non_local_channels: int | None = Field(
        None, ge=1, description="inner width of a non-local block (null: half its input; fast-reid's files use 1)"
    )
    last_stride: Literal[1, 2] = Field(2, description="stride of the last stage (fastreid_* backbones only)")
    pooling: Literal["gem", "avg"] = "gem"
    gem_p: float = Field(3.0, gt=0, description="initial GeM exponent")
    gem_learn_p: bool = Field(True, description="learn the GeM exponent (false: fixed at gem_p)")
    embedding_dim: int | None = Field(
        512, ge=8, le=8192, description="linear projection size (null: the neck feature is the embedding)"
    )
    bnneck: bool = True
    freeze_bn: bool = Field(False, description="keep BatchNorm running statistics fixed while training")
    input_size: tuple[int, int] = Field((256, 256), description="(height, width) fed to the network")
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: Literal["bilinear", "bicubic"] = Field(
        "bilinear", description="resize filter at inference (bicubic: PIL's, as fast-reid tests)"
    )

    def summary(self) -> str:
        """One line naming the network: backbone and its options, pooling, neck, and what the embedding is."""
        parts = [self.arch]
        if self.ibn:
            parts.append("IBN-a")
        if any(self.non_local):
            width = f" (width {self.non_local_channels})" if self.non_local_channels else ""
            parts.append(f"non-local {'/'.join(map(str, self.non_local))}{width}")
        if self.last_stride != 2:
            parts.append(f"last stride {self.last_stride}")
        parts.append("avg pooling" if self.pooling == "avg" else f"GeM ({'learned' if self.gem_learn_p else 'fixed'} p)")
        if self.bnneck:
            parts.append("BNNeck")
        parts.append(f"linear {self.embedding_dim}" if self.embedding_dim is not None else "neck feature")
        return ", ".join(parts)

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, value: str) -> str:
        from reid.models.backbones import BACKBONES
        from reid.models.ibn_resnet import IBN_RESNETS

        if value not in BACKBONES and value not in IBN_RESNETS:
            raise ValueError(f"unknown backbone {value!r}; valid: {', '.join([*BACKBONES, *IBN_RESNETS])}")
        return value

    @model_validator(mode="after")
    def _fastreid_options(self) -> ModelConfig:
        """IBN, non-local blocks and the last stride exist only in the fast-reid ResNet layout."""
        from reid.models.ibn_resnet import IBN_RESNETS

        if self.arch in IBN_RESNETS:
            for stage, (count, blocks) in enumerate(zip(self.non_local, IBN_RESNETS[self.arch], strict=True)):
                if not 0 <= count <= blocks:
                    raise ValueError(f"non_local[{stage}] = {count}: stage {stage + 1} of {self.arch} has {blocks} blocks")
            return self
        asked = [
            name
            for name, value, default in (
                ("ibn", self.ibn, False),
                ("non_local", tuple(self.non_local), (0, 0, 0, 0)),
                ("last_stride", self.last_stride, 2),
            )
            if value != default
        ]
        if asked:
            raise ValueError(
                f"{', '.join(asked)} need a fastreid_* backbone ({', '.join(IBN_RESNETS)}), not {self.arch!r}"
            )
        return self

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
