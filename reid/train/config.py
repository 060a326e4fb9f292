"""The schema of a training run (YAML ``kind: train``): data, batch sampling, model, loss, optimiser, schedule.

Each section is small and owned here; the model and loss sections reuse the schemas of their own modules
so that a checkpoint's stored model config and a loss config validated elsewhere mean the same thing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from reid.config import ConfigModel
from reid.losses.config import LossConfig
from reid.models.config import ModelConfig


class DataConfig(ConfigModel):
    """Where the training images come from and which identities are held out for validation."""

    kind: Literal["vehicleid", "veri", "folder", "csv"] = "vehicleid"
    root: str | None = Field(
        None, description="dataset root (VehicleID/VeRi folder, identity folders, or CSV file)"
    )
    split: str | None = Field(
        "train", description="split to train on: 'train' for vehicleid/veri, null for folder/csv"
    )
    skip_missing: bool = Field(False, description="skip listed images missing on disk instead of stopping")
    val_ids: int = Field(
        100, ge=0, description="training identities held out for validation (0: no validation)"
    )
    val_split: str | None = Field(
        None, description="validate on this split of the same dataset instead (e.g. 'small' for VehicleID)"
    )
    val_id_list: list[int] | None = Field(
        None, description="explicit identities to hold out (overrides val_ids)"
    )
    num_workers: int = Field(4, ge=0, description="DataLoader worker processes per GPU/process")

    @model_validator(mode="after")
    def _split_default(self) -> DataConfig:
        # folder and csv read their root directly; a leftover 'train' default would look for root/train.
        if self.kind in ("folder", "csv") and self.split == "train" and "split" not in self.model_fields_set:
            object.__setattr__(self, "split", None)
        return self


class SamplerConfig(ConfigModel):
    """P×K batches: ``p`` identities with ``k`` images each (the global batch across all processes)."""

    p: int = Field(96, ge=2, description="identities per global batch")
    k: int = Field(4, ge=2, description="images per identity")
    skip_small: bool = Field(
        False, description="drop identities with fewer than k images instead of repeating"
    )
    batches_per_epoch: int | None = Field(
        None, ge=1, description="fixed epoch length (default: about one pass)"
    )


class AugmentConfig(ConfigModel):
    """Training augmentations (see reid.data.transforms for why each is modest)."""

    scale: tuple[float, float] = (0.64, 1.0)
    ratio: tuple[float, float] = (0.8, 1.25)
    flip: float = Field(0.5, ge=0, le=1)
    jitter: float = Field(0.2, ge=0, le=1)
    erasing: float = Field(0.5, ge=0, le=1)


class TrainLossConfig(LossConfig):
    """The loss (see reid.losses.LossConfig) plus how it sees the batch under DDP."""

    gather: bool = Field(
        False,
        description="all-gather embeddings (with gradients) so the loss ranks over the whole global batch",
    )

    def loss_config(self) -> LossConfig:
        """The plain LossConfig that ``build_loss`` takes."""
        return LossConfig.model_validate(self.model_dump(exclude={"gather"}))


class OptimConfig(ConfigModel):
    """Optimiser and its hyper-parameters."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-5, gt=0)
    weight_decay: float = Field(4e-4, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD only")
    head_lr_mult: float = Field(1.0, gt=0, description="learning-rate factor for pooling/neck/projection")
    grad_clip: float | None = Field(10.0, gt=0, description="clip the global gradient norm (null: off)")


class ScheduleConfig(ConfigModel):
    """Learning rate over time: linear warm-up, then cosine or step decay (per iteration)."""

    name: Literal["cosine", "step", "constant"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0)
    milestones: list[int] = Field(
        default_factory=list, description="step: epochs where lr is multiplied by gamma"
    )
    gamma: float = Field(0.1, gt=0, le=1)
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="cosine: final lr as a fraction of the base lr")


class TrainConfig(ConfigModel):
    """A whole training run."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    loss: TrainLossConfig = Field(default_factory=TrainLossConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    epochs: int = Field(50, ge=1)
    val_every: int = Field(1, ge=1, description="validate every N epochs (and after the last)")
    val_batch_size: int = Field(128, ge=1)
    best_metric: Literal["rank1", "rank5", "mAP"] = "rank1"
    amp: bool = Field(True, description="mixed precision on GPU (bf16 where supported, else fp16)")
    max_nonfinite: int = Field(20, ge=0, description="stop after this many skipped non-finite steps")
    seed: int = 0
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N (DDP uses cuda:LOCAL_RANK)")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        v = value.strip().lower()
        if v not in ("auto", "cpu", "cuda") and not v.startswith("cuda:"):
            raise ValueError("device must be auto, cpu, cuda or cuda:N")
        return v


#: The recipe for training from random weights, named in the warning below.
SCRATCH_RECIPE = "configs/scratch_pnp.yaml"


def scratch_recipe_warning(cfg: TrainConfig) -> str | None:
    """A warning for a run from random weights that keeps the paper's PNP-Dq values (alpha 4, anneal 0.01).

    Those values assume an ImageNet start. From random weights almost every positive starts behind most
    negatives, where PNP-Dq's gradient ``alpha / (1 + R)^(alpha + 1)`` all but vanishes; such a run can end
    below the untrained network (docs/benchmarks.md). ``None`` when the run is not in that case.
    """
    loss = cfg.loss
    if cfg.model.pretrained.strip().lower() != "none" or loss.name != "pnp" or loss.variant != "Dq":
        return None
    if loss.alpha != 4.0 or loss.anneal != 0.01:
        return None
    return (
        "model.pretrained is none but the loss keeps the paper's PNP-Dq alpha 4 and anneal 0.01, which assume an "
        f"ImageNet start and barely learn from random weights; train from scratch with --config {SCRATCH_RECIPE} "
        "(alpha 1, anneal 0.05, Adam lr 1e-3)"
    )
