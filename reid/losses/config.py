"""The ``loss:`` section of a training config (no torch import: configs load fast)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from reid.config import ConfigModel

LossName = Literal["pnp", "smoothap", "fastap", "triplet", "multisimilarity", "contrastive"]


class LossConfig(ConfigModel):
    """Which loss trains the embedding network, and its hyper-parameters.

    Only the fields of the selected ``name`` are used; the others keep their defaults so that switching a run
    to a baseline is one override (``--set loss.name=triplet``).
    """

    name: LossName = Field(
        "pnp", description="pnp, or a baseline: smoothap, fastap, triplet, multisimilarity, contrastive"
    )
    variant: str = Field(
        "Dq", description="PNP variant: O, Ds, Dq, Iu, Ib (or PNP-O, PNP-D_s, PNP-D_q, PNP-I_u, PNP-I_b)"
    )
    alpha: float = Field(4.0, gt=0, description="exponent of PNP-D_q")
    anneal: float = Field(0.01, gt=0, description="sigmoid temperature of PNP and Smooth-AP")
    b: float = Field(2.0, gt=0, description="scale of PNP-I_b")
    margin: float = Field(
        0.2, ge=0, description="triplet margin on L2-normalised embeddings (distance in [0, 2])"
    )
    pos_margin: float = Field(
        0.0, ge=0, description="contrastive: positive pairs closer than this cost nothing"
    )
    neg_margin: float = Field(
        1.0, gt=0, description="contrastive: negative pairs farther than this cost nothing"
    )
    num_bins: int = Field(10, ge=2, description="FastAP histogram bins")
    ms_alpha: float = Field(2.0, gt=0, description="multi-similarity: weight of positive pairs")
    ms_beta: float = Field(50.0, gt=0, description="multi-similarity: weight of negative pairs")
    ms_base: float = Field(0.5, description="multi-similarity: similarity offset lambda")
    ms_epsilon: float = Field(0.1, ge=0, description="multi-similarity miner margin")

    @field_validator("variant")
    @classmethod
    def _known_variant(cls, value: str) -> str:
        from reid.losses.variants import canonical_variant

        return canonical_variant(value)
