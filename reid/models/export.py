"""ONNX export of the embedding network, checked against PyTorch with onnxruntime.

Two input conventions:

* ``preprocess=False`` (what ``reid export onnx`` writes): input ``images`` float32 (B, 3, H, W), RGB,
  normalised with the checkpoint's mean and std (stored in the ONNX metadata); output ``embeddings`` (B, D).
* ``preprocess=True`` (what the CPU inference path runs): input ``images`` uint8 (B, H, W, 3) RGB, already
  resized; normalisation is inside the graph, so the host only moves bytes.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from reid.errors import OutputError, WeightsError


class WithPreprocessing(nn.Module):
    """``model`` behind uint8 NHWC input: permute (free: it yields a channels_last tensor) and normalise."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.model = model
        # Scaled to 0-255 in float64, rounded to float32 once: the same constants as a network that stores
        # them on the 0-255 scale (fast-reid's pixel_mean 123.675), so imported networks see the same input.
        self.register_buffer("mean", (torch.tensor(mean, dtype=torch.float64) * 255.0).float().view(1, 3, 1, 1))
        self.register_buffer("std", (torch.tensor(std, dtype=torch.float64) * 255.0).float().view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2).float()
        return self.model((x - self.mean) / self.std)


def onnx_bytes(
    model: nn.Module,
    input_size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    preprocess: bool = False,
    dynamic_batch: bool = True,
    batch: int = 1,
    metadata: dict[str, Any] | None = None,
) -> bytes:
    """Serialise ``model`` (on CPU, eval mode) to ONNX bytes with the input convention described above."""
    import onnx

    model = model.float().cpu().eval()
    h, w = int(input_size[0]), int(input_size[1])
    if preprocess:
        net: nn.Module = WithPreprocessing(model, mean, std).eval()
        example = torch.zeros((batch, h, w, 3), dtype=torch.uint8)
    else:
        net = model
        example = torch.zeros((batch, 3, h, w), dtype=torch.float32)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            # The TorchScript-based exporter: a few seconds for a ResNet-50 and no extra dependency at run time.
            torch.onnx.export(
                net,
                (example,),
                buffer,
                input_names=["images"],
                output_names=["embeddings"],
                dynamic_axes={"images": {0: "batch"}, "embeddings": {0: "batch"}} if dynamic_batch else None,
                opset_version=17,
                dynamo=False,
            )
        except Exception as exc:
            raise WeightsError(f"ONNX export of this network failed: {str(exc).splitlines()[0]}") from exc
    proto = onnx.load_from_string(buffer.getvalue())
    meta = {
        "input_size": json.dumps([h, w]),
        "mean": json.dumps(list(mean)),
        "std": json.dumps(list(std)),
        "input_layout": "uint8 NHWC RGB" if preprocess else "float32 NCHW RGB normalised",
    }
    for key, value in {**meta, **(metadata or {})}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    return proto.SerializeToString()


def ort_session(model_bytes: bytes | str, threads: int | None = None):
    """An onnxruntime CPU session with all graph optimisations (BN folding, operator fusion)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = int(threads)
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def to_fp16(model_bytes: bytes) -> bytes:
    """Convert weights and activations to float16, keeping float32 inputs and outputs for the caller."""
    import onnx

    try:
        from onnxconverter_common import float16  # type: ignore[import-not-found]
    except ImportError:
        float16 = None
    proto = onnx.load_from_string(model_bytes)
    if float16 is not None:
        proto = float16.convert_float_to_float16(proto, keep_io_types=True)
        return proto.SerializeToString()
    return _fp16_initializers(proto)


def _fp16_initializers(proto: Any) -> bytes:
    """Half-size file without onnxconverter-common: float16 weights, each cast back to float32 in the graph."""
    import onnx
    from onnx import helper, numpy_helper

    graph = proto.graph
    new_inits = []
    casts = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            new_inits.append(init)
            continue
        arr = numpy_helper.to_array(init).astype(np.float16)
        half_name = f"{init.name}__fp16"
        new_inits.append(numpy_helper.from_array(arr, half_name))
        casts.append(helper.make_node("Cast", [half_name], [init.name], to=onnx.TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return proto.SerializeToString()


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    dynamic_batch: bool = False,
    fp16: bool = False,
    check_batch: int = 2,
) -> dict[str, Any]:
    """Export a checkpoint to ONNX at ``out`` (atomic) and compare it with PyTorch on random images.

    Returns ``{"path", "max_abs_diff", "min_cosine", "input_size", "dim", "fp16", "dynamic_batch", "identity"}``.
    A mismatch above tolerance is an error rather than a silently wrong model.
    """
    from reid.io import atomic_write
    from reid.models.checkpoint import (
        checkpoint_identity,
        checkpoint_interpolation,
        load_checkpoint,
        model_from_checkpoint,
    )

    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt)
    identity = checkpoint_identity(ckpt)
    size, mean, std = ckpt["input_size"], ckpt["mean"], ckpt["std"]
    batch = check_batch if dynamic_batch else 1
    data = onnx_bytes(
        model,
        size,
        mean,
        std,
        preprocess=False,
        dynamic_batch=dynamic_batch,
        batch=batch,
        metadata={
            "reid_identity": identity,
            "model_config": json.dumps(ckpt["model_config"]),
            "interpolation": checkpoint_interpolation(ckpt),
        },
    )
    if fp16:
        data = to_fp16(data)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((batch, 3, int(size[0]), int(size[1])), generator=generator)
    with torch.inference_mode():
        expected = model(x).numpy()
    try:
        got = ort_session(data).run(None, {"images": x.numpy()})[0].astype(np.float32)
    except ImportError as exc:
        raise WeightsError("onnxruntime is not installed", "pip install 'reid[onnx]'") from exc
    diff = float(np.abs(got - expected).max())
    cosine = float((got * expected).sum(1).min() / 1.0)
    tolerance = 5e-2 if fp16 else 1e-3
    if not np.isfinite(diff) or diff > tolerance:
        raise WeightsError(f"the ONNX model differs from PyTorch by up to {diff:.3g} (tolerance {tolerance})")
    out = Path(out)
    if out.is_dir():
        raise OutputError(f"output {out} is a folder", "pass a file name such as model.onnx to --out")
    try:
        with atomic_write(out, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}", "choose another --out") from exc
    return {
        "path": str(out),
        "max_abs_diff": diff,
        "min_cosine": cosine,
        "input_size": list(size),
        "dim": int(expected.shape[1]),
        "fp16": fp16,
        "dynamic_batch": dynamic_batch,
        "identity": identity,
        "bytes": len(data),
    }
