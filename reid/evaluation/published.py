"""Published VehicleID numbers, each with its source, to show beside a measurement of the same protocol.

The two VehicleID protocols give different numbers for the same network (docs/protocols.md), so a number is
only comparable with one measured under its own protocol: the PNP paper reports Recall@K under the ``paper``
protocol (every image against all others), fast-reid's model zoo reports CMC Rank-K under the ``gallery``
protocol (one random image per identity as the gallery, repeated draws). Values are percent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """Numbers one source published for one protocol and test list."""

    source: str
    network: str
    values: dict[str, float]

    @property
    def label(self) -> str:
        return f"{self.source}: {self.network}"


PNP_PAPER = "PNP paper (Li et al., AAAI 2022)"
FASTREID_ZOO = "fast-reid model zoo"

# (protocol, split) -> what was published.
PUBLISHED_VEHICLEID: dict[tuple[str, str], Published] = {
    ("paper", "small"): Published(PNP_PAPER, "PNP-Dq, ResNet-50", {"rank1": 95.5, "rank5": 97.8}),
    ("paper", "medium"): Published(PNP_PAPER, "PNP-Dq, ResNet-50", {"rank1": 94.2, "rank5": 96.9}),
    ("paper", "large"): Published(PNP_PAPER, "PNP-Dq, ResNet-50", {"rank1": 93.2, "rank5": 96.6}),
    ("gallery", "small"): Published(FASTREID_ZOO, "BoT(R50-ibn)", {"rank1": 86.6, "rank5": 97.9}),
    ("gallery", "medium"): Published(FASTREID_ZOO, "BoT(R50-ibn)", {"rank1": 82.9, "rank5": 96.0}),
    ("gallery", "large"): Published(FASTREID_ZOO, "BoT(R50-ibn)", {"rank1": 80.6, "rank5": 93.9}),
}
VEHICLEID_SPLITS = ("small", "medium", "large")


def published_vehicleid(
    split: str, protocols: list[str] | tuple[str, ...]
) -> dict[tuple[str, str], tuple[float, str]]:
    """``(protocol, metric) -> (value, source label)`` for the protocols that ran on ``split``."""
    out: dict[tuple[str, str], tuple[float, str]] = {}
    for protocol in protocols:
        entry = PUBLISHED_VEHICLEID.get((protocol, split))
        if entry is not None:
            out.update({(protocol, metric): (value, entry.label) for metric, value in entry.values.items()})
    return out
