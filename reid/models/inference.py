"""The fast inference path: images or crops in, L2-normalised float32 embeddings out.

What makes it fast, and why:

* batches travel as uint8 (B, H, W, 3): decoding and resizing happen in DataLoader workers (or OpenCV for
  crops), and the host-to-device copy is four times smaller than float; the copy uses pinned memory and
  ``non_blocking`` so it overlaps with compute on the GPU;
* on the GPU: ``inference_mode``, channels_last (the NHWC -> NCHW permute yields it for free), and bf16
  autocast (fp16 where bf16 is unsupported);
* on the CPU: onnxruntime with all graph optimisations (BatchNorm folding, fused convolutions), which measured
  about 1.6x faster than the best eager PyTorch setting for a ResNet-50 on a 2-core machine (see
  docs/benchmarks.md). The ONNX graph is exported once per network and cached by its identity; a network that
  does not export falls back to PyTorch, which is still correct.

Public API: :func:`embed_records` and :class:`CropEmbedder`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from reid.data.transforms import resize_to_rgb
from reid.device import resolve_device
from reid.errors import ConfigError, InputError, WeightsError
from reid.types import ImageRecord

BACKENDS = ("auto", "torch", "onnxruntime")


def onnx_cache_dir() -> Path:
    """Where exported inference graphs are cached (``$REID_CACHE_DIR/onnx`` or ``~/.cache/reid/onnx``)."""
    from reid.models.catalog import user_cache_dir

    return user_cache_dir() / "onnx"


def _onnxruntime_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def model_identity(model: nn.Module, extra: dict[str, Any] | None = None) -> str:
    """A short hash of a network's weights (and ``extra``), for networks that did not come from a checkpoint."""
    digest = hashlib.sha256(json.dumps(extra or {}, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return "model:" + digest.hexdigest()[:16]


class _TorchRunner:
    """PyTorch execution: uint8 NHWC batch -> embeddings, with device-side normalisation and autocast."""

    name = "torch"

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float], device: str) -> None:
        from reid.models.export import WithPreprocessing

        self.device = torch.device(device)
        self.net = WithPreprocessing(model, mean, std).eval().to(self.device)
        self.net = self.net.to(memory_format=torch.channels_last)
        self.autocast_dtype: torch.dtype | None = None
        if self.device.type == "cuda":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def __call__(self, batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            x = batch.to(self.device, non_blocking=True)
            if self.autocast_dtype is not None:
                with torch.autocast(device_type="cuda", dtype=self.autocast_dtype):
                    out = self.net(x)
            else:
                out = self.net(x)
            out = torch.nn.functional.normalize(out.float(), dim=1)
            return out.cpu().numpy()


class _OrtRunner:
    """onnxruntime execution on the CPU of the same network with normalisation inside the graph."""

    name = "onnxruntime"

    def __init__(self, model: nn.Module, input_size: Sequence[int], mean, std, identity: str) -> None:
        from reid.io import atomic_write
        from reid.models.export import onnx_bytes, ort_session

        h, w = int(input_size[0]), int(input_size[1])
        key = hashlib.sha256(f"{identity}|{h}x{w}|{list(mean)}|{list(std)}|v1".encode()).hexdigest()[:24]
        path = onnx_cache_dir() / f"{key}.onnx"
        data: bytes | None = None
        if path.is_file():
            try:
                data = path.read_bytes()
                self.session = ort_session(data)
            except Exception:  # a damaged cache entry: export again
                data = None
        if data is None:
            data = onnx_bytes(model, (h, w), mean, std, preprocess=True, dynamic_batch=True, batch=2)
            self.session = ort_session(data)
            try:
                with atomic_write(path, "wb") as handle:
                    handle.write(data)
            except OSError:
                pass  # an unwritable cache only costs the export next time
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: torch.Tensor) -> np.ndarray:
        out = self.session.run(None, {self.input_name: batch.numpy()})[0].astype(np.float32, copy=False)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)


class CropEmbedder:
    """Embeds BGR crops (as OpenCV gives them) with a re-ID network: ``embed(crops) -> (N, D)`` unit rows.

    Build it with :meth:`from_checkpoint` (a trained network), :meth:`from_imagenet` (an ImageNet backbone
    as an untrained baseline) or :meth:`from_model` (any module mapping normalised images to vectors).
    """

    def __init__(
        self,
        model: nn.Module,
        input_size: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        device: str = "auto",
        batch_size: int = 64,
        identity: str | None = None,
        backend: str = "auto",
        meta: dict[str, Any] | None = None,
        interpolation: str = "bilinear",
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(f"unknown inference backend {backend!r}", f"valid: {', '.join(BACKENDS)}")
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}", "check --batch-size")
        self.device = resolve_device(device)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.batch_size = int(batch_size)
        if interpolation not in ("bilinear", "bicubic"):
            raise ConfigError(f"unknown resize filter {interpolation!r}", "valid: bilinear, bicubic")
        self.interpolation = interpolation
        model = model.eval()
        self.identity = identity or model_identity(
            model, {"size": self.input_size, "mean": self.mean, "std": self.std}
        )
        self.meta = dict(meta or {})
        self.backend_note = ""
        use_ort = backend == "onnxruntime" or (
            backend == "auto" and self.device == "cpu" and _onnxruntime_available()
        )
        if backend == "onnxruntime" and self.device != "cpu":
            raise ConfigError(
                "the onnxruntime backend runs on the CPU only", "use --device cpu or backend torch"
            )
        self._runner: Any
        if use_ort:
            try:
                self._runner = _OrtRunner(model, self.input_size, self.mean, self.std, self.identity)
            except (ImportError, WeightsError) as exc:
                if backend == "onnxruntime":
                    raise WeightsError(f"cannot run this network with onnxruntime: {exc}") from exc
                self.backend_note = f"onnxruntime unavailable ({exc}); using PyTorch"
                self._runner = _TorchRunner(model, self.mean, self.std, self.device)
        else:
            self._runner = _TorchRunner(model, self.mean, self.std, self.device)
        self._dim: int | None = getattr(model, "embedding_dim", None)
        if self._dim is None:
            self._dim = int(self._runner(torch.zeros((1, *self.input_size, 3), dtype=torch.uint8)).shape[1])

    # -- constructors ---------------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str = "auto", batch_size: int = 64, backend: str = "auto",
        flag: str = "--weights",
    ) -> CropEmbedder:
        """A trained network from a ``reid train`` checkpoint (``best.pt`` / ``last.pt``); ``flag`` is the option
        that named it, for the hint of an error."""
        from reid.models.checkpoint import (
            checkpoint_identity,
            checkpoint_interpolation,
            load_checkpoint,
            model_from_checkpoint,
        )

        ckpt = load_checkpoint(path, flag=flag)
        model = model_from_checkpoint(ckpt, flag=flag)
        return cls(
            model,
            ckpt["input_size"],
            ckpt["mean"],
            ckpt["std"],
            device=device,
            batch_size=batch_size,
            identity=checkpoint_identity(ckpt),
            backend=backend,
            meta={"weights": str(path), "model_config": ckpt["model_config"]},
            interpolation=checkpoint_interpolation(ckpt),
        )

    @classmethod
    def from_imagenet(
        cls,
        arch: str = "resnet50",
        device: str = "auto",
        weights_file: str | None = None,
        batch_size: int = 64,
        input_size: Sequence[int] = (224, 224),
        backend: str = "auto",
    ) -> CropEmbedder:
        """An ImageNet backbone with average pooling: an untrained re-ID baseline (weights cached or local)."""
        from reid.models.backbones import BACKBONES, build_backbone
        from reid.models.config import IMAGENET_MEAN, IMAGENET_STD
        from reid.models.embedder import ImagenetFeatures

        if arch not in BACKBONES:
            raise ConfigError(f"unknown backbone {arch!r}", f"valid: {', '.join(BACKBONES)}")
        try:
            trunk, channels = build_backbone(arch, weights_file or "imagenet", flag="--imagenet-weights")
        except WeightsError as exc:
            raise WeightsError(
                f"no ImageNet weights for {arch} on this machine ({exc.message})",
                "pass --reid-weights with a checkpoint from 'reid train' (recommended), or place the torchvision "
                "ImageNet file in the torch hub cache",
            ) from exc
        model = ImagenetFeatures(trunk, channels)
        return cls(
            model,
            input_size,
            IMAGENET_MEAN,
            IMAGENET_STD,
            device=device,
            batch_size=batch_size,
            identity=f"imagenet:{arch}",
            backend=backend,
            meta={"imagenet": arch},
        )

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        input_size: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        device: str = "auto",
        batch_size: int = 64,
        backend: str = "auto",
        interpolation: str = "bilinear",
    ) -> CropEmbedder:
        """Any module mapping normalised (B, 3, H, W) images to vectors (tests use a random network)."""
        identity = None
        cfg = getattr(model, "cfg", None)
        if cfg is not None and hasattr(cfg, "model_dump"):
            from reid.models.checkpoint import checkpoint_identity, make_checkpoint

            identity = checkpoint_identity(make_checkpoint(model, cfg))
        return cls(
            model,
            input_size,
            mean,
            std,
            device=device,
            batch_size=batch_size,
            identity=identity,
            backend=backend,
            interpolation=interpolation,
        )

    # -- use --------------------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Embedding size D."""
        return int(self._dim or 0)

    @property
    def backend(self) -> str:
        """``"torch"`` or ``"onnxruntime"``: what actually runs."""
        return self._runner.name

    def preprocess(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        """BGR uint8 crops of any size -> one uint8 (N, H, W, 3) RGB batch at the network's input size."""
        out = torch.empty((len(crops), *self.input_size, 3), dtype=torch.uint8)
        for i, crop in enumerate(crops):
            arr = np.asarray(crop)
            if arr.ndim not in (2, 3) or arr.size == 0 or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
                raise InputError(f"crop {i} has shape {arr.shape}; expected a BGR image (H, W, 3)")
            if arr.ndim == 3 and arr.shape[2] == 1:
                arr = arr[:, :, 0]
            out[i] = torch.from_numpy(resize_to_rgb(arr, self.input_size, self.interpolation))
        return out

    def run_batch(self, batch_nhwc: torch.Tensor) -> np.ndarray:
        """Embed an already resized uint8 (B, H, W, 3) RGB batch."""
        return self._runner(batch_nhwc)

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings (N, D) float32, L2-normalised, of BGR uint8 crops (H, W, 3) of any size."""
        if len(crops) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self.run_batch(self.preprocess(crops[i : i + self.batch_size]))
            for i in range(0, len(crops), self.batch_size)
        ]
        return np.concatenate(parts).astype(np.float32, copy=False)


def embed_records(
    records: Sequence[ImageRecord],
    checkpoint: str | Path | CropEmbedder | nn.Module,
    device: str = "auto",
    batch_size: int = 128,
    num_workers: int = 2,
    progress: Callable[..., None] | None = None,
) -> np.ndarray:
    """Embeddings (N, D) float32, L2-normalised, of the images of ``records``, in their order.

    ``checkpoint`` is a checkpoint path, a :class:`CropEmbedder`, or an :class:`~reid.models.embedder.Embedder`
    module. Images are decoded and resized in ``num_workers`` DataLoader workers; an unreadable image is a
    one-line :class:`~reid.errors.DatasetError` naming it. ``progress(done, total)`` is called per batch.
    """
    embedder = _as_embedder(checkpoint, device, batch_size)
    records = list(records)
    total = len(records)
    if total == 0:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    loader = records_loader(
        records,
        embedder.input_size,
        batch_size,
        num_workers,
        pin=embedder.device.startswith("cuda"),
        interpolation=embedder.interpolation,
    )
    from reid.data.dataset import check_batch

    out = np.empty((total, embedder.dim), dtype=np.float32)
    done = 0
    if progress is not None:
        progress(0, total)
    for images, _labels, indices, ok in loader:
        check_batch(ok, indices, records)
        out[indices.numpy()] = embedder.run_batch(images)
        done += len(indices)
        if progress is not None:
            progress(done, total)
    return out


def records_loader(
    records: Sequence[ImageRecord],
    input_size: Sequence[int],
    batch_size: int,
    num_workers: int,
    pin: bool = False,
    interpolation: str = "bilinear",
) -> torch.utils.data.DataLoader:
    """A DataLoader of eval-preprocessed uint8 batches ``(images, labels, indices, ok)`` in record order."""
    from torch.utils.data import DataLoader

    from reid.data.dataset import ImageDataset, collate, worker_init_fn
    from reid.data.transforms import EvalTransform
    from reid.procs import cap_workers

    dataset = ImageDataset(records, EvalTransform(input_size, interpolation), input_size)
    # Capped here too (the CLI caps and says so first): a library caller's 100000 must not start 100000.
    batch_size = max(1, int(batch_size))
    workers, _note = cap_workers(max(0, int(num_workers)))
    workers = min(workers, -(-len(dataset) // batch_size))  # a worker with no batch to read only costs its start
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin,
        persistent_workers=False,
        prefetch_factor=2 if workers > 0 else None,
        worker_init_fn=worker_init_fn() if workers > 0 else None,
    )


def _as_embedder(checkpoint: Any, device: str, batch_size: int) -> CropEmbedder:
    if isinstance(checkpoint, CropEmbedder):
        return checkpoint
    if isinstance(checkpoint, (str, Path)):
        return CropEmbedder.from_checkpoint(checkpoint, device=device, batch_size=batch_size)
    if isinstance(checkpoint, nn.Module):
        cfg = getattr(checkpoint, "cfg", None)
        if cfg is None:
            raise InputError(
                "embed_records needs a checkpoint path, a CropEmbedder or a reid Embedder module"
            )
        return CropEmbedder.from_model(
            checkpoint,
            cfg.input_size,
            cfg.mean,
            cfg.std,
            device=device,
            batch_size=batch_size,
            interpolation=cfg.interpolation,
        )
    raise InputError(f"embed_records cannot use a {type(checkpoint).__name__} as the network")
