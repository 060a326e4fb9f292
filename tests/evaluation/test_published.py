"""Published numbers are shown only beside a measurement of their own protocol, with their source."""

from __future__ import annotations

from reid.evaluation.published import published_vehicleid


def test_each_protocol_gets_its_own_source() -> None:
    both = published_vehicleid("large", ["paper", "gallery"])
    assert both[("paper", "rank1")] == (93.2, "PNP paper (Li et al., AAAI 2022): PNP-Dq, ResNet-50")
    assert both[("gallery", "rank1")] == (80.6, "fast-reid model zoo: BoT(R50-ibn)")
    assert both[("gallery", "rank5")][0] == 93.9
    # A run of the paper protocol alone shows no gallery-protocol number (they are not comparable).
    assert set(published_vehicleid("small", ["paper"])) == {("paper", "rank1"), ("paper", "rank5")}
    assert published_vehicleid("train", ["paper", "gallery"]) == {}
