"""Configs of the gallery index and of cross-camera linking (YAML ``kind: link``, see ``configs/link.yaml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from reid.config import ConfigModel


class IndexConfig(ConfigModel):
    """How the faiss index searches.

    ``flat`` is exact inner product and right for galleries up to a few hundred thousand vectors; ``ivf``
    (inverted lists, ``nlist`` cells, ``nprobe`` visited per query) and ``hnsw`` (graph with ``hnsw_m`` links per
    node) trade a little recall for much faster search on large galleries. An IVF index needs training data;
    with fewer than ``39 * nlist`` vectors it is built as ``flat`` instead (faiss's own minimum).
    """

    kind: Literal["flat", "ivf", "hnsw"] = "flat"
    nlist: int = Field(1024, ge=1)
    nprobe: int = Field(16, ge=1)
    hnsw_m: int = Field(32, ge=4)
    hnsw_ef_search: int = Field(64, ge=1)
    max_train: int = Field(100_000, ge=1000, description="IVF: train the cells on at most this many vectors")
    use_gpu: Literal["auto", "never"] = "auto"


class TravelConfig(ConfigModel):
    """Travel times between cameras (see :mod:`reid.gallery.travel`).

    With a hand-written topology (``cameras.yaml`` links) the windows are hard constraints. Without one,
    ``learn`` estimates each camera pair's window from confident matches and uses it as a soft prior: a route
    step inside its window adds ``bonus`` to the merge score, one outside subtracts ``penalty``; ``rounds``
    times, each round learning again from the identities the previous one linked.
    """

    learn: bool = True
    flows: bool = Field(True, description="learn windows between flows of traffic (which way vehicles move "
                        "through each view) when tracklets carry their motion")
    rounds: int = Field(1, ge=1, le=10)
    bonus: float = Field(0.2, ge=0.0, le=2.0)
    penalty: float = Field(0.5, ge=0.0, le=2.0)
    slack: float = Field(2.0, ge=0.0, description="seconds added to each link's max travel: tracklets start "
                         "a little after a vehicle enters a view and end a little before it leaves")
    skip: int = Field(1, ge=0, le=4, description="cameras a route may pass unseen (a camera that missed the vehicle)")
    margin: float = Field(0.0, ge=-1.0, le=1.0, description="confident matches: mutual nearest neighbours at "
                          "threshold + margin or above")
    min_matches: int = Field(3, ge=2, description="matches a learned window must explain")
    min_gain: float = Field(3.0, ge=0.0, description="nats a learned window must gain over chance gaps")


class LinkConfig(ConfigModel):
    """Cross-camera linking of tracklets into global identities.

    ``threshold`` is a cosine similarity: two groups of tracklets are linked when the average similarity of
    their members (average linkage), plus the time prior, is at least this value. ``auto`` (the default)
    calibrates it on the footage itself (:mod:`reid.gallery.selfcal`): the median similarity of confident
    cross-camera matches (mutual nearest neighbours), never below the similarity that only ``false_match_rate``
    of the pairs of tracklets one camera saw at the same time reach (surely different vehicles); with fewer than
    ``calibration_min_pairs`` of either, ``fallback_threshold``.
    ``reid gallery calibrate`` picks a number on a labelled scene instead. ``camera_bias`` centres each
    camera's vectors on the camera's mean before matching (a live linker: on the camera's mean so far).
    ``mode: batch`` clusters all new tracklets together (identities already in the gallery are fixed seeds, so
    their ids never change); ``online`` replays them through the live linker (:mod:`reid.live.linker`) in the
    order they end, which is what ``reid live`` would have answered.
    """

    threshold: float | Literal["auto"] = "auto"
    false_match_rate: float = Field(0.05, gt=0.0, lt=1.0)
    calibration_min_pairs: int = Field(10, ge=1)
    fallback_threshold: float = Field(0.6, ge=-1.0, le=1.0)
    camera_bias: bool = True
    mode: Literal["batch", "online"] = "batch"
    rerank: bool = False
    rerank_k1: int = Field(20, ge=1)
    rerank_k2: int = Field(6, ge=1)
    rerank_lambda: float = Field(0.3, ge=0.0, le=1.0)
    rerank_max_tracklets: int = Field(5000, ge=2)
    use_topology: bool = True
    knn: int = Field(30, ge=1, description="candidate neighbours per tracklet considered for a merge")
    overlap_tolerance: float = Field(
        0.0, ge=0.0, description="seconds two tracklets of one camera may overlap and still be one vehicle"
    )
    min_revisit: float = Field(
        0.0, ge=0.0,
        description="seconds after leaving a camera before a vehicle can be seen by it again (0: any time; "
        "fragments of one pass are joined by the single-camera stage)",
    )
    travel: TravelConfig = TravelConfig()
    index: IndexConfig = IndexConfig()

    @field_validator("threshold")
    @classmethod
    def _threshold_range(cls, value: float | str) -> float | str:
        if isinstance(value, float) and not -1.0 <= value <= 1.0:
            raise ValueError(f"threshold {value} is not a cosine similarity in [-1, 1] (or auto)")
        return value
