"""Configs of the gallery index and of cross-camera linking (YAML ``kind: link``, see ``configs/link.yaml``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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


class LinkConfig(ConfigModel):
    """Cross-camera linking of tracklets into global identities.

    ``threshold`` is a cosine similarity: two groups of tracklets are linked when the average similarity of
    their members (average linkage) is at least this value. Pick it on a labelled scene with
    ``reid gallery calibrate``. ``mode: batch`` clusters all new tracklets together (identities already in the
    gallery are fixed seeds, so their ids never change); ``online`` takes tracklets one at a time in time order
    and attaches each to the nearest identity prototype, as a live system would.
    """

    threshold: float = Field(0.6, ge=-1.0, le=1.0)
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
    index: IndexConfig = IndexConfig()
