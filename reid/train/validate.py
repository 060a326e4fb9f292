"""Validation during training: embed held-out identities and score them with the paper protocol."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from reid.data.transforms import normalize_on_device
from reid.types import ImageRecord


def embed_for_validation(
    model: torch.nn.Module,
    records: Sequence[ImageRecord],
    input_size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    batch_size: int,
    num_workers: int,
    autocast_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """Embeddings (N, D) of ``records`` with the training network in eval mode (restored to train after)."""
    from reid.data.dataset import check_batch
    from reid.models.inference import records_loader

    loader = records_loader(records, input_size, batch_size, num_workers, pin=device.type == "cuda")
    was_training = model.training
    model.eval()
    out: np.ndarray | None = None
    try:
        with torch.inference_mode():
            for images, _labels, indices, ok in loader:
                check_batch(ok, indices, records)
                x = normalize_on_device(images.to(device, non_blocking=True), mean, std)
                if autocast_dtype is not None:
                    with torch.autocast(device_type=device.type, dtype=autocast_dtype):
                        emb = model(x)
                else:
                    emb = model(x)
                emb = torch.nn.functional.normalize(emb.float(), dim=1).cpu().numpy()
                if out is None:
                    out = np.empty((len(records), emb.shape[1]), dtype=np.float32)
                out[indices.numpy()] = emb
    finally:
        model.train(was_training)
    assert out is not None
    return out


def validate(
    model: torch.nn.Module,
    records: Sequence[ImageRecord],
    input_size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
    batch_size: int = 128,
    num_workers: int = 2,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """``{"rank1", "rank5", "mAP"}`` in percent on ``records`` (every image queries all others)."""
    from reid.evaluation.protocols import paper_protocol

    feats = embed_for_validation(
        model, records, input_size, mean, std, device, batch_size, num_workers, autocast_dtype
    )
    labels = np.array([r.label for r in records], dtype=np.int64)
    result = paper_protocol(feats, labels, ks=(1, 5))
    return {key: float(result[key]) for key in ("rank1", "rank5", "mAP")}
