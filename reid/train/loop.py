"""The training loop: P×K batches -> embedding network -> ranking loss -> optimiser, with validation,
checkpoints, exact resume, AMP on GPUs and DDP across processes.

One function, :func:`train`, used by ``reid train`` (one process) and by ``python -m reid.train`` under
``torchrun`` (one process per GPU). It reports progress through callbacks and never prints.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from reid.errors import OutputError, ReidError, TrainingError
from reid.train import distributed
from reid.train.config import TrainConfig

ProgressFn = Callable[..., None]


@dataclass
class TrainResult:
    """What a finished (or already complete) run produced."""

    out_dir: Path
    epochs_done: int
    best: dict[str, Any] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    nonfinite_steps: int = 0
    num_train_images: int = 0
    num_train_ids: int = 0
    num_val_images: int = 0
    resumed_from: int | None = None

    @property
    def best_path(self) -> Path:
        return self.out_dir / "best.pt"

    @property
    def last_path(self) -> Path:
        return self.out_dir / "last.pt"


def _device_for(cfg: TrainConfig, info: distributed.DistInfo) -> torch.device:
    from reid.device import resolve_device

    name = resolve_device(cfg.device)
    if name.startswith("cuda") and info.enabled:
        return torch.device(f"cuda:{info.local_rank}")
    return torch.device(name)


def _autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if device.type != "cuda" or not cfg.amp:
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _param_groups(model: torch.nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Backbone and head groups (head: pooling, neck, projection); no weight decay on 1-d parameters."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        head = not name.startswith("backbone.")
        decay = param.ndim > 1
        groups.setdefault((head, decay), []).append(param)
    out = []
    for (head, decay), params in sorted(groups.items()):
        lr = cfg.optim.lr * (cfg.optim.head_lr_mult if head else 1.0)
        out.append(
            {
                "params": params,
                "lr": lr,
                "base_lr": lr,
                "weight_decay": cfg.optim.weight_decay if decay else 0.0,
            }
        )
    return out


def _optimizer(groups: list[dict[str, Any]], cfg: TrainConfig) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "adam":
        return torch.optim.Adam(groups, lr=o.lr)
    if o.name == "adamw":
        return torch.optim.AdamW(groups, lr=o.lr)
    return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=True)


def _prepare_out(out_dir: Path, resume: bool, overwrite: bool) -> str | None:
    """Check/create the run folder (rank 0); returns an error message for the other ranks, or None."""
    from reid.io import prepare_output_dir

    try:
        if resume:
            if not (out_dir / "last.pt").is_file():
                raise OutputError(
                    f"nothing to resume: {out_dir / 'last.pt'} does not exist",
                    "drop --resume to start a new run",
                )
            return None
        if (out_dir / "last.pt").is_file() and not overwrite:
            raise OutputError(
                f"{out_dir} already holds a training run",
                "pass --resume to continue it, --overwrite to start over",
            )
        prepare_output_dir(out_dir, overwrite)
        for stale in ("best.pt", "last.pt", "metrics.jsonl", "config.yaml"):
            with contextlib.suppress(FileNotFoundError):
                (out_dir / stale).unlink()
    except ReidError as exc:
        return json.dumps([type(exc).__name__, exc.message, exc.hint])
    return None


def _raise_remote(message: str) -> None:
    import reid.errors as errors

    name, text, hint = json.loads(message)
    raise getattr(errors, name, errors.ReidError)(text, hint)


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a crash: everything after it is not trusted
    return rows


def _append_metrics(path: Path, row: dict[str, Any]) -> None:
    import os

    from reid.io import open_for_writing

    with open_for_writing(path, "a") as handle:
        handle.write(json.dumps(row) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _better(new: dict[str, Any], best: dict[str, Any] | None, key: str) -> bool:
    return best is None or float(new.get(key, -math.inf)) > float(best.get(key, -math.inf))


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train the embedding network of ``cfg`` into ``out_dir`` (``best.pt``, ``last.pt``, ``metrics.jsonl``,
    ``config.yaml``).

    ``resume`` continues from ``out_dir/last.pt`` exactly where it stopped (weights, optimiser, schedule,
    sampler position, every RNG). ``progress(step, total_steps, epoch=, loss=, lr=, it_s=)`` is called per
    iteration and ``on_epoch(row)`` with each epoch's metrics row, on the main process only.
    """
    from reid.device import resolve_device
    from reid.models.pretrained import resolve_model_config

    cfg = cfg.model_copy(update={"model": resolve_model_config(cfg.model)})  # model.pretrained: a checkpoint
    device_type = "cuda" if resolve_device(cfg.device).startswith("cuda") else "cpu"
    info = distributed.init(device_type)
    try:
        return _train(
            cfg, Path(out_dir), resume, overwrite, progress if info.is_main else None, on_epoch, info
        )
    finally:
        distributed.shutdown()


def _train(
    cfg: TrainConfig,
    out_dir: Path,
    resume: bool,
    overwrite: bool,
    progress: ProgressFn | None,
    on_epoch: Callable[[dict[str, Any]], None] | None,
    info: distributed.DistInfo,
) -> TrainResult:
    from torch.utils.data import DataLoader

    from reid import __version__
    from reid.config import config_to_yaml
    from reid.data.dataset import ImageDataset, check_batch, collate
    from reid.data.sampler import PKSampler
    from reid.data.transforms import TrainTransform, normalize_on_device
    from reid.io import atomic_write_text
    from reid.losses import build_loss
    from reid.models.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
    from reid.models.embedder import build_model
    from reid.train.data import load_train_data
    from reid.train.schedule import lr_factor
    from reid.train.state import capture_rng, restore_rng, seed_everything
    from reid.train.validate import validate

    device = _device_for(cfg, info)
    problem = _prepare_out(out_dir, resume, overwrite) if info.is_main else None
    problem = distributed.broadcast_object(problem, info)
    if problem:
        _raise_remote(problem)

    data = load_train_data(cfg)
    seed_everything(cfg.seed + info.rank)
    model = build_model(cfg.model).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = _optimizer(_param_groups(model, cfg), cfg)
    loss_fn = build_loss(cfg.loss.loss_config()).to(device)
    amp_dtype = _autocast_dtype(cfg, device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None

    mc = cfg.model
    dataset = ImageDataset(
        data.train,
        TrainTransform(
            mc.input_size,
            cfg.augment.scale,
            cfg.augment.ratio,
            cfg.augment.flip,
            cfg.augment.jitter,
            cfg.augment.erasing,
        ),
        mc.input_size,
    )
    sampler = PKSampler(
        dataset.labels,
        cfg.sampler.p,
        cfg.sampler.k,
        seed=cfg.seed,
        skip_small=cfg.sampler.skip_small,
        batches_per_epoch=cfg.sampler.batches_per_epoch,
        num_replicas=info.world_size,
        rank=info.rank,
    )
    steps_per_epoch = len(sampler)
    total_steps = steps_per_epoch * cfg.epochs

    start_epoch, step, nonfinite, best = 0, 0, 0, None
    history: list[dict[str, Any]] = []
    resumed_from = None
    metrics_path = out_dir / "metrics.jsonl"
    if resume:
        ckpt = load_checkpoint(out_dir / "last.pt", flag="--out")
        ts = ckpt.get("train_state")
        if not isinstance(ts, dict):
            raise TrainingError(
                f"{out_dir / 'last.pt'} holds no training state to resume from", "start a new run"
            )
        if ckpt["model_config"] != mc.model_dump(mode="json"):
            raise TrainingError(
                f"the model config differs from the one {out_dir} was trained with",
                "resume with the run's own config.yaml (the default), or start a new run",
            )
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ts["optimizer"])
        if scaler is not None and ts.get("scaler"):
            scaler.load_state_dict(ts["scaler"])
        sampler.load_state_dict(ts["sampler"])
        start_epoch, step, nonfinite = int(ts["epoch"]), int(ts["step"]), int(ts["nonfinite"])
        best = ts.get("best")
        rngs = ts.get("rng", [])
        if len(rngs) == info.world_size:
            restore_rng(rngs[info.rank])
        else:  # another number of processes: still a valid continuation, but not bit-identical
            seed_everything(cfg.seed + info.rank + 1000 * start_epoch)
        resumed_from = start_epoch
        history = [r for r in _read_metrics(metrics_path) if int(r.get("epoch", 0)) <= start_epoch]
        if info.is_main:
            atomic_write_text(metrics_path, "".join(json.dumps(r) + "\n" for r in history))
    elif info.is_main:
        atomic_write_text(out_dir / "config.yaml", "kind: train\n" + config_to_yaml(cfg))

    if info.enabled:
        ddp_kwargs: dict[str, Any] = {"broadcast_buffers": True}
        if device.type == "cuda":
            ddp_kwargs["device_ids"] = [device.index]
        net: torch.nn.Module = torch.nn.parallel.DistributedDataParallel(model, **ddp_kwargs)
    else:
        net = model

    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=cfg.data.num_workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if cfg.data.num_workers > 0 else None,
    )
    base_meta = {
        "reid_version": __version__,
        "dataset": {"kind": cfg.data.kind, "root": cfg.data.root, "split": cfg.data.split},
        "num_train_ids": len(set(r.label for r in data.train)),
        "num_train_images": len(data.train),
        "validation": data.val_source,
        "loss": cfg.loss.model_dump(mode="json"),
        "world_size": info.world_size,
        "train_config": cfg.model_dump(mode="json"),
    }
    if progress is not None:
        progress(step, total_steps, epoch=start_epoch, loss=float("nan"), lr=0.0)

    for epoch in range(start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        net.train()
        started = time.perf_counter()
        loss_sum, loss_count = 0.0, 0
        for images, labels, indices, ok in loader:
            check_batch(ok, indices, dataset.records)
            factor = lr_factor(step, cfg.schedule, steps_per_epoch, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = group["base_lr"] * factor
            x = normalize_on_device(images.to(device, non_blocking=True), mc.mean, mc.std)
            y = labels.to(device, non_blocking=True)
            try:
                ctx = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
                with ctx:
                    emb = net(x)
                emb = emb.float()
                if cfg.loss.gather and info.enabled:
                    loss = loss_fn(
                        distributed.all_gather_with_grad(emb, info), distributed.all_gather_plain(y, info)
                    )
                else:
                    loss = loss_fn(emb, y)
                bad = distributed.any_true(not bool(torch.isfinite(loss).item()), info, device)
                if bad:
                    (emb.sum() * 0.0).backward()  # keep DDP's gradient reduction in step on every rank
                else:
                    (scaler.scale(loss) if scaler is not None else loss).backward()
            except torch.cuda.OutOfMemoryError as exc:
                raise TrainingError(
                    f"the GPU ran out of memory with a batch of {cfg.sampler.p}x{cfg.sampler.k} images of "
                    f"{mc.input_size[0]}x{mc.input_size[1]}",
                    "lower sampler.p or model.input_size, or spread the batch over more GPUs with loss.gather=true",
                ) from exc
            if not bad and scaler is not None:
                scaler.unscale_(optimizer)
            if not bad and cfg.optim.grad_clip is not None:
                norm = torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.optim.grad_clip)
                bad = scaler is None and not bool(torch.isfinite(norm).item())
            if bad:
                optimizer.zero_grad(set_to_none=True)
                nonfinite += 1
                if nonfinite > cfg.max_nonfinite:
                    raise TrainingError(
                        f"the loss or its gradient was not finite in {nonfinite} steps (limit max_nonfinite="
                        f"{cfg.max_nonfinite}); training stopped at epoch {epoch + 1}",
                        "lower optim.lr, set optim.grad_clip, or turn off amp",
                    )
            else:
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                loss_sum += float(loss.detach())
                loss_count += 1
            step += 1
            if progress is not None:
                elapsed = time.perf_counter() - started
                done_here = step - epoch * steps_per_epoch
                progress(
                    step,
                    total_steps,
                    epoch=epoch + 1,
                    loss=loss_sum / max(1, loss_count),
                    lr=optimizer.param_groups[0]["lr"],
                    it_s=done_here / max(elapsed, 1e-9),
                )
        seconds = time.perf_counter() - started
        mean_loss = loss_sum / loss_count if loss_count else float("nan")
        if info.enabled:
            t = torch.tensor([loss_sum, float(loss_count)], device=device, dtype=torch.float64)
            torch.distributed.all_reduce(t)
            mean_loss = float(t[0] / t[1]) if t[1] > 0 else float("nan")

        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": step,
            "loss": mean_loss,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": round(seconds, 3),
            "it_s": round(steps_per_epoch / max(seconds, 1e-9), 3),
            "nonfinite_steps": nonfinite,
        }
        is_last = epoch + 1 == cfg.epochs
        if info.is_main and data.val and ((epoch + 1) % cfg.val_every == 0 or is_last):
            row.update(
                validate(
                    model,
                    data.val,
                    mc.input_size,
                    mc.mean,
                    mc.std,
                    device,
                    cfg.val_batch_size,
                    cfg.data.num_workers,
                    amp_dtype,
                )
            )
        rngs = [capture_rng()]
        if info.enabled:
            rngs = [None] * info.world_size
            torch.distributed.all_gather_object(rngs, capture_rng())
        if info.is_main:
            has_metric = cfg.best_metric in row
            if (has_metric and _better(row, best, cfg.best_metric)) or (not data.val):
                best = dict(row)
                save_checkpoint(
                    out_dir / "best.pt",
                    make_checkpoint(
                        model,
                        mc,
                        meta={
                            **base_meta,
                            **row,
                            "selected_by": cfg.best_metric if data.val else "last epoch (no validation)",
                        },
                    ),
                )
            train_state = {
                "epoch": epoch + 1,
                "step": step,
                "nonfinite": nonfinite,
                "best": best,
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "sampler": sampler.state_dict(batches_done=steps_per_epoch),
                "rng": rngs,
            }
            save_checkpoint(
                out_dir / "last.pt",
                make_checkpoint(model, mc, meta={**base_meta, **row}, train_state=train_state),
            )
            _append_metrics(metrics_path, row)
            history.append(row)
            if on_epoch is not None:
                on_epoch(row)
        distributed.barrier(info)

    return TrainResult(
        out_dir=out_dir,
        epochs_done=cfg.epochs,
        best=best,
        history=history,
        nonfinite_steps=nonfinite,
        num_train_images=len(data.train),
        num_train_ids=len(set(r.label for r in data.train)),
        num_val_images=len(data.val),
        resumed_from=resumed_from,
    )
