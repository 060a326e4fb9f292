"""``kind: synth`` — the settings of ``reid synth`` (one section per writer), see ``configs/synth.yaml``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from reid.config import ConfigModel


class VehicleIDSynth(ConfigModel):
    """A VehicleID-layout dataset: identities per split, images per identity, image size (width, height)."""

    num_train_ids: int = Field(60, ge=0)
    num_test_ids: int = Field(40, ge=1)
    images_per_id: tuple[int, int] = (4, 8)
    size: tuple[int, int] = (128, 128)
    near_duplicate_rate: float = Field(0.3, ge=0.0, le=1.0)


class VeriSynth(ConfigModel):
    """A VeRi-776-layout dataset: identities per split, number of cameras, image size (width, height)."""

    num_train_ids: int = Field(40, ge=0)
    num_test_ids: int = Field(20, ge=1)
    cameras: int = Field(6, ge=2)
    size: tuple[int, int] = (128, 128)
    near_duplicate_rate: float = Field(0.3, ge=0.0, le=1.0)


class SceneSynth(ConfigModel):
    """A multi-camera scene: cameras in a chain, vehicles, length, frame rate and frame size (width, height)."""

    cameras: int = Field(3, ge=1)
    vehicles: int = Field(12, ge=1)
    seconds: float = Field(30.0, gt=0)
    fps: float = Field(10.0, gt=0)
    size: tuple[int, int] = (640, 360)
    layout: Literal["mot", "cityflow"] = Field(
        "mot", description="mot: cam1.mp4 + gt/cam1.txt; cityflow: the AI City layout S01/c001/vdo.avi with roi.jpg"
    )


class SynthConfig(ConfigModel):
    """Settings of every synthetic writer; command-line flags (``--ids``, ``--seed``, ...) override them."""

    seed: int = 0
    vehicleid: VehicleIDSynth = Field(default_factory=VehicleIDSynth)
    veri: VeriSynth = Field(default_factory=VeriSynth)
    scene: SceneSynth = Field(default_factory=SceneSynth)
