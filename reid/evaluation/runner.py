"""What ``reid eval`` does, as library calls: read a dataset, get its embeddings, run the protocols.

Embeddings come either from a features file written by ``reid embed`` (rows matched to the list by path) or
from a checkpoint (the images are embedded here). Features are L2-normalised on load, so every protocol
ranks by cosine similarity. The returned :class:`EvalRun` holds the JSON-ready result and what the rank-list
pictures need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reid.errors import InputError
from reid.evaluation.protocols import evaluate_test_list, veri_protocol
from reid.evaluation.published import PUBLISHED_VEHICLEID
from reid.evaluation.ranking import Csr, check_features, check_rows, dot_similarity
from reid.evaluation.rerank import RerankParams, reranked_similarity
from reid.types import ImageRecord

Progress = Callable[..., None]
ProgressFactory = Callable[[str, int | None], Progress]

#: Published PNP-loss results on VehicleID (paper protocol), Recall@1 / Recall@5 in percent.
PUBLISHED_PNP_VEHICLEID: dict[str, tuple[float, float]] = {
    split: (entry.values["rank1"], entry.values["rank5"])
    for (protocol, split), entry in PUBLISHED_VEHICLEID.items()
    if protocol == "paper"
}

VEHICLEID_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "paper": ("paper",),
    "gallery": ("gallery",),
    "both": ("paper", "gallery"),
}


@dataclass
class EvalRun:
    """The outcome of one evaluation: ``result`` is what goes to JSON; the rest feeds the pictures."""

    result: dict[str, Any]
    query_records: list[ImageRecord]
    gallery_records: list[ImageRecord]
    similarity: Callable[[np.ndarray], np.ndarray]
    per_query_ap: np.ndarray
    removed: Csr | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def _no_progress(description: str, total: int | None = None) -> Progress:
    return lambda done, total=None, **info: None


def normalize(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    feats = check_features(features)
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    return feats / np.maximum(norms, 1e-12)


def check_source(weights: str | Path | None, features: str | Path | None) -> None:
    """Exactly one source of embeddings, checked before any dataset is read."""
    if (weights is None) == (features is None):
        raise InputError(
            "pass exactly one of --weights (a checkpoint) or --features (a file from 'reid embed')"
        )


def get_embeddings(
    records: Sequence[ImageRecord],
    root: str | Path | None,
    weights: str | Path | None = None,
    features: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 128,
    num_workers: int = 2,
    progress: Progress | None = None,
) -> np.ndarray:
    """(N, D) L2-normalised float32 embeddings of ``records``, from a features file or a checkpoint.

    A zero-length or non-finite row is refused with one line naming the file and the count (see
    :func:`reid.evaluation.ranking.check_rows`).
    """
    check_source(weights, features)
    names = [r.path for r in records]
    if features is not None:
        from reid.data.features import load_features

        rows = load_features(features).align(list(records), root)
        hint = "re-run 'reid embed' for these images, with a sound network"
        return normalize(check_rows(rows, f"features file {features}", hint, names))
    from reid.models.inference import embed_records

    embedded = embed_records(
        list(records),
        weights,
        device=device,
        batch_size=batch_size,
        num_workers=num_workers,
        progress=progress,
    )
    hint = "the checkpoint is probably damaged (NaN weights); check --weights or train it again"
    return normalize(check_rows(embedded, f"the embeddings from {weights}", hint, names))


def _public(obj: Any) -> Any:
    """Drop the ``_`` keys (per-query arrays) so the result is plain JSON."""
    if isinstance(obj, dict):
        return {k: _public(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list):
        return [_public(v) for v in obj]
    return obj


def _similarity_device(device: str) -> str:
    from reid.device import resolve_device

    return resolve_device(device)


def evaluate_vehicleid(
    root: str | Path,
    split: str = "large",
    weights: str | Path | None = None,
    features: str | Path | None = None,
    protocol: str = "both",
    repeats: int = 10,
    seed: int = 0,
    rerank: RerankParams | None = None,
    device: str = "auto",
    batch_size: int = 128,
    num_workers: int = 2,
    skip_missing: bool = False,
    progress: ProgressFactory = _no_progress,
) -> EvalRun:
    """VehicleID test list ``split`` under the paper and/or gallery protocol (one embedding pass)."""
    from reid.data.vehicleid import read_vehicleid

    check_source(weights, features)
    if protocol not in VEHICLEID_PROTOCOLS:
        raise InputError(
            f"unknown protocol {protocol!r}", f"valid: {', '.join(VEHICLEID_PROTOCOLS)} (--protocol)"
        )
    if split not in PUBLISHED_PNP_VEHICLEID:
        what = "the training list, not a test list" if split == "train" else "not a VehicleID test list"
        raise InputError(f"split {split!r} is {what}", "valid splits: small, medium, large (--split)")
    records = read_vehicleid(root, split, skip_missing=skip_missing)
    feats = get_embeddings(
        records,
        root,
        weights,
        features,
        device,
        batch_size,
        num_workers,
        progress("embed", None) if weights is not None else None,
    )
    labels = np.array([r.label for r in records], dtype=np.int64)
    dev = _similarity_device(device)
    sim = dot_similarity(feats, feats, dev)
    # On the CPU the default (None) computes each symmetric block pair once; a GPU computes them all instead.
    symmetric = rerank is None and not dev.startswith("cuda")
    if rerank is not None:
        all_rows = np.arange(len(feats))
        sim = reranked_similarity(feats, all_rows, all_rows, rerank, progress("re-rank", len(feats)))
    out = evaluate_test_list(
        feats,
        labels,
        VEHICLEID_PROTOCOLS[protocol],
        ks=(1, 5),
        repeats=repeats,
        seed=seed,
        similarity=None if symmetric else sim,
        progress=progress("evaluate", len(feats)),
    )
    result: dict[str, Any] = {
        "dataset": "vehicleid",
        "split": split,
        "num_images": len(records),
        "num_ids": int(len(np.unique(labels))),
        "num_missing_skipped": len(records.missing),
        "rerank": None if rerank is None else {"k1": rerank.k1, "k2": rerank.k2, "lambda": rerank.lam},
        "protocols": _public(out),
    }
    if "paper" in out:
        result["protocols"]["paper"].pop("excluded", None)
        result["excluded_queries"] = [records[i].path for i in out["paper"]["excluded"]]
        self_removed = Csr(np.arange(len(feats) + 1, dtype=np.int64), np.arange(len(feats), dtype=np.int64))
        return EvalRun(result, list(records), list(records), sim, out["paper"]["_per_query_ap"], self_removed)
    gallery = out["gallery"]["_gallery"]

    def gallery_sim(rows: np.ndarray) -> np.ndarray:
        return sim(rows)[:, gallery]

    return EvalRun(
        result,
        list(records),
        [records[i] for i in gallery],
        gallery_sim,
        out["gallery"]["_per_query_ap"],
        None,
    )


def _query_gallery(
    dataset: str,
    query: list[ImageRecord],
    gallery: list[ImageRecord],
    root: str | Path | None,
    weights: str | Path | None,
    features: str | Path | None,
    rerank: RerankParams | None,
    device: str,
    batch_size: int,
    num_workers: int,
    progress: ProgressFactory,
    info: dict[str, Any],
) -> EvalRun:
    both = query + gallery
    feats = get_embeddings(
        both,
        root,
        weights,
        features,
        device,
        batch_size,
        num_workers,
        progress("embed", None) if weights is not None else None,
    )
    q, g = feats[: len(query)], feats[len(query) :]
    q_index = np.arange(len(query))
    g_index = np.arange(len(query), len(both))
    if rerank is not None:
        sim = reranked_similarity(feats, q_index, g_index, rerank, progress("re-rank", len(both)))
    else:
        sim = dot_similarity(q, g, _similarity_device(device))
    labels = np.array([r.label for r in both], dtype=np.int64)
    cams = np.array([r.camera for r in both], dtype=np.int64)
    out = veri_protocol(
        q,
        labels[q_index],
        cams[q_index],
        g,
        labels[g_index],
        cams[g_index],
        similarity=sim,
        progress=progress("evaluate", len(query)),
        details=True,
    )
    public = _public(out)
    excluded = public.pop("excluded")
    result = {
        "dataset": dataset,
        **info,
        "num_query": len(query),
        "num_gallery": len(gallery),
        "num_ids": int(len(np.unique(labels))),
        "rerank": None if rerank is None else {"k1": rerank.k1, "k2": rerank.k2, "lambda": rerank.lam},
        "protocols": {"veri": public},
        "excluded_queries": [query[i].path for i in excluded],
    }
    return EvalRun(result, query, gallery, sim, out["_per_query_ap"], out["_removed"])


def evaluate_veri(
    root: str | Path,
    weights: str | Path | None = None,
    features: str | Path | None = None,
    rerank: RerankParams | None = None,
    device: str = "auto",
    batch_size: int = 128,
    num_workers: int = 2,
    skip_missing: bool = False,
    progress: ProgressFactory = _no_progress,
) -> EvalRun:
    """VeRi-776 query against test images, same identity and camera removed per query."""
    from reid.data.veri import read_veri

    check_source(weights, features)
    query = read_veri(root, "query", skip_missing=skip_missing)
    gallery = read_veri(root, "gallery", skip_missing=skip_missing)
    info = {"num_missing_skipped": len(query.missing) + len(gallery.missing)}
    return _query_gallery(
        "veri", list(query), list(gallery), root, weights, features, rerank, device, batch_size, num_workers,
        progress, info,
    )  # fmt: skip


def evaluate_folder(
    query: str | Path | None = None,
    gallery: str | Path | None = None,
    csv: str | Path | None = None,
    weights: str | Path | None = None,
    features: str | Path | None = None,
    rerank: RerankParams | None = None,
    device: str = "auto",
    batch_size: int = 128,
    num_workers: int = 2,
    skip_missing: bool = False,
    progress: ProgressFactory = _no_progress,
) -> EvalRun:
    """A query folder against a gallery folder (one subfolder per identity), or a CSV with a split column
    holding ``query`` and ``gallery`` rows; cameras from the CSV are honoured like VeRi's."""
    from reid.data.csvlist import read_csv
    from reid.data.folder import read_folder

    check_source(weights, features)
    if csv is not None:
        if query is not None or gallery is not None:
            raise InputError("pass either --csv or --query and --gallery, not both")
        q_records = read_csv(csv, split="query", skip_missing=skip_missing)
        g_records = read_csv(csv, split="gallery", skip_missing=skip_missing)
        root: Path | None = Path(csv).parent
        info: dict[str, Any] = {
            "csv": str(csv),
            "num_missing_skipped": len(q_records.missing) + len(g_records.missing),
        }
    else:
        if query is None or gallery is None:
            raise InputError("pass --query DIR and --gallery DIR (or --csv FILE with a split column)")
        q_records, g_records = read_folder(query), read_folder(gallery)
        root = None
        info = {"query": str(query), "gallery": str(gallery)}
    return _query_gallery(
        "folder", list(q_records), list(g_records), root, weights, features, rerank, device, batch_size,
        num_workers, progress, info,
    )  # fmt: skip
