"""The training loop: P×K batches -> embedding network -> ranking loss -> optimiser, with validation,
checkpoints, exact resume, AMP on GPUs and DDP across processes.

:func:`train` is used by ``reid train`` (one process) and by ``python -m reid.train`` under ``torchrun`` (one
process per GPU). It drives a :class:`Trainer`, one method per phase (set-up, resume, step, epoch end, save),
reports progress and warnings through callbacks and never prints.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from reid.errors import ReidError, TrainingError
from reid.train import distributed
from reid.train.config import TrainConfig
from reid.train.run_folder import RunFolder, SavedState

ProgressFn = Callable[..., None]


@dataclass
class Callbacks:
    """How a run talks to its caller (each is called on the main process only)."""

    progress: ProgressFn | None = None  # progress(step, total_steps, epoch=, loss=, lr=, it_s=) per iteration
    on_epoch: Callable[[dict[str, Any]], None] | None = None  # each epoch's metrics row
    on_warning: Callable[[str], None] | None = None  # one line: a capped worker count, a resume fallback, ...


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


def _better(new: dict[str, Any], best: dict[str, Any] | None, key: str) -> bool:
    return best is None or float(new.get(key, -math.inf)) > float(best.get(key, -math.inf))


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train the embedding network of ``cfg`` into ``out_dir`` (``best.pt``, ``last.pt``, ``last.prev.pt``,
    ``metrics.jsonl``, ``config.yaml``).

    ``resume`` continues from ``out_dir/last.pt`` exactly where it stopped (weights, optimiser, schedule,
    sampler position, every RNG); a damaged ``last.pt`` falls back to ``last.prev.pt``, then to a fresh start,
    each with a warning. ``progress(step, total_steps, epoch=, loss=, lr=, it_s=)`` is called per iteration,
    ``on_epoch(row)`` with each epoch's metrics row and ``on_warning(line)`` with each warning, on the main
    process only.
    """
    from reid.device import resolve_device
    from reid.models.pretrained import resolve_model_config

    cfg = cfg.model_copy(update={"model": resolve_model_config(cfg.model)})  # model.pretrained: a checkpoint
    device_type = "cuda" if resolve_device(cfg.device).startswith("cuda") else "cpu"
    info = distributed.init(device_type)
    try:
        callbacks = Callbacks(progress, on_epoch, on_warning) if info.is_main else Callbacks()
        trainer = Trainer(cfg, Path(out_dir), info, callbacks)
        trainer.set_up(resume, overwrite)
        if resume:
            trainer.resume()
        else:
            trainer.start_fresh()
        return trainer.run()
    finally:
        distributed.shutdown()


def training_inputs(cfg: TrainConfig) -> list[Any]:
    """What a training run reads: its output folder must never hold or lie inside one of these."""
    inputs: list[Any] = [cfg.data.root]
    pretrained = str(cfg.model.pretrained or "")
    if pretrained not in ("", "none", "imagenet"):
        inputs.append(pretrained)
    return [i for i in inputs if i]


class Trainer:
    """One training run. The phases, in order: :meth:`set_up`, :meth:`resume` or :meth:`start_fresh`, then
    :meth:`run`, which calls :meth:`step` per batch and :meth:`end_epoch` and :meth:`save` per epoch.

    Counters (``epoch``: epochs done, ``global_step``, ``nonfinite``: skipped steps) and ``best``/``history`` are
    the state that ``last.pt`` keeps; everything else is rebuilt from the config.
    """

    def __init__(self, cfg: TrainConfig, out_dir: Path, info: distributed.DistInfo, callbacks: Callbacks) -> None:
        self.cfg = cfg
        self.info = info
        self.callbacks = callbacks
        self.folder = RunFolder(out_dir)
        self.epoch = 0
        self.global_step = 0
        self.nonfinite = 0
        self.best: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.resumed_from: int | None = None

    # -- set-up --------------------------------------------------------------------------------------------
    def set_up(self, resume: bool, overwrite: bool) -> None:
        """Check the run folder, read the data, build the network, optimiser, loss and sampler."""
        from reid.data.dataset import ImageDataset
        from reid.data.sampler import PKSampler
        from reid.data.transforms import TrainTransform
        from reid.losses import build_loss
        from reid.models.embedder import build_model
        from reid.train.config import scratch_recipe_warning
        from reid.train.data import load_train_data
        from reid.train.run_folder import raise_remote, remote_error
        from reid.train.state import seed_everything

        cfg, info = self.cfg, self.info
        self._warn(scratch_recipe_warning(cfg))
        self.device = _device_for(cfg, info)
        problem = None
        if info.is_main:
            try:
                self.folder.prepare(resume, overwrite, inputs=training_inputs(cfg))
            except ReidError as exc:
                problem = remote_error(exc)
        problem = distributed.broadcast_object(problem, info)
        if problem:
            raise_remote(problem)

        self.data = load_train_data(cfg)
        self.workers = self._worker_count()
        seed_everything(cfg.seed + info.rank)
        self.model = build_model(cfg.model).to(self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.net: torch.nn.Module = self.model  # wrapped in DDP by run(), after a resume has loaded the weights
        self.optimizer = _optimizer(_param_groups(self.model, cfg), cfg)
        self.loss_fn = build_loss(cfg.loss.loss_config()).to(self.device)
        self.amp_dtype = _autocast_dtype(cfg, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None

        mc, aug = cfg.model, cfg.augment
        transform = TrainTransform(mc.input_size, aug.scale, aug.ratio, aug.flip, aug.jitter, aug.erasing)
        self.dataset = ImageDataset(self.data.train, transform, mc.input_size)
        self.sampler = PKSampler(
            self.dataset.labels,
            cfg.sampler.p,
            cfg.sampler.k,
            seed=cfg.seed,
            skip_small=cfg.sampler.skip_small,
            batches_per_epoch=cfg.sampler.batches_per_epoch,
            num_replicas=info.world_size,
            rank=info.rank,
        )
        self.steps_per_epoch = len(self.sampler)
        self.total_steps = self.steps_per_epoch * cfg.epochs

    def _worker_count(self) -> int:
        """``data.num_workers`` capped to this process's share of the CPU cores (with a warning when lowered)."""
        from reid.procs import available_cores, cap_workers

        share = max(1, available_cores() // self.info.local_world_size)
        workers, note = cap_workers(self.cfg.data.num_workers, share, what="data.num_workers")
        if note and self.info.local_world_size > 1:
            note += f", shared by {self.info.local_world_size} training processes"
        self._warn(note)
        return workers

    def start_fresh(self) -> None:
        """A new run: write the resolved config beside it."""
        from reid.config import config_to_yaml

        if self.info.is_main:
            self.folder.write_config("kind: train\n" + config_to_yaml(self.cfg))

    # -- resume --------------------------------------------------------------------------------------------
    def resume(self) -> None:
        """Continue from the newest intact ``last.pt`` / ``last.prev.pt``, or from the first epoch if neither is.

        The main process picks the file (so every DDP rank takes the same one) and says which and why.
        """
        from reid.train.run_folder import read_saved_state

        state: SavedState | None = None
        choice = ""
        if self.info.is_main:
            state, passed_over = self.folder.load_resumable()
            choice = state.path.name if state is not None else ""
            if passed_over and state is not None:
                self._warn(
                    f"{'; '.join(passed_over)}: resuming from {state.path} (epoch {state.epoch}) instead, so "
                    f"epoch {state.epoch + 1} is trained again"
                )
            elif state is None:
                self._warn(f"{'; '.join(passed_over)}: nothing to resume from, training starts again from epoch 1")
        choice = distributed.broadcast_object(choice, self.info)
        if choice and state is None:
            problem, state = read_saved_state(self.folder / choice)
            if state is None:
                raise TrainingError(f"{self.folder / choice} {problem} on rank {self.info.rank}")
        if state is None:
            if self.info.is_main:
                self.folder.write_metrics([])
                if not (self.folder / "config.yaml").is_file():
                    self.start_fresh()
            return
        self._load(state)

    def _load(self, state: SavedState) -> None:
        """Put the saved weights, optimiser, scaler, sampler, counters and RNGs in place."""
        from reid.train.state import restore_rng, seed_everything

        ckpt, ts, cfg = state.ckpt, state.train_state, self.cfg
        if ckpt["model_config"] != cfg.model.model_dump(mode="json"):
            raise TrainingError(
                f"the model config differs from the one {self.folder.path} was trained with",
                "resume with the run's own config.yaml (the default), or start a new run",
            )
        try:
            self.model.load_state_dict(ckpt["state_dict"])
            self.optimizer.load_state_dict(ts["optimizer"])
            if self.scaler is not None and ts.get("scaler"):
                self.scaler.load_state_dict(ts["scaler"])
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:
            first = (str(exc) or type(exc).__name__).splitlines()[0]
            raise TrainingError(
                f"{state.path} does not fit this run ({first})", "start a new run with --overwrite"
            ) from exc
        self.sampler.load_state_dict(ts["sampler"])
        self.epoch, self.global_step, self.nonfinite = int(ts["epoch"]), int(ts["step"]), int(ts["nonfinite"])
        self.best = ts.get("best")
        rngs = ts.get("rng", [])
        if len(rngs) == self.info.world_size:
            restore_rng(rngs[self.info.rank])
        else:  # another number of processes: still a valid continuation, but not bit-identical
            seed_everything(cfg.seed + self.info.rank + 1000 * self.epoch)
        self.resumed_from = self.epoch
        self.history = [r for r in self.folder.read_metrics() if int(r.get("epoch", 0)) <= self.epoch]
        if self.info.is_main:
            self.folder.write_metrics(self.history)

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        """Train the remaining epochs; returns what the run produced."""
        self.net = self._distributed_model()
        self.loader = self._loader()
        if self.callbacks.progress is not None:
            self.callbacks.progress(self.global_step, self.total_steps, epoch=self.epoch, loss=float("nan"), lr=0.0)
        for epoch in range(self.epoch, self.cfg.epochs):
            row = self.end_epoch(epoch, *self._train_epoch(epoch))
            self.save(row)
            self.epoch = epoch + 1
        return TrainResult(
            out_dir=self.folder.path,
            epochs_done=self.cfg.epochs,
            best=self.best,
            history=self.history,
            nonfinite_steps=self.nonfinite,
            num_train_images=len(self.data.train),
            num_train_ids=len(set(r.label for r in self.data.train)),
            num_val_images=len(self.data.val),
            resumed_from=self.resumed_from,
        )

    def _distributed_model(self) -> torch.nn.Module:
        if not self.info.enabled:
            return self.model
        kwargs: dict[str, Any] = {"broadcast_buffers": True}
        if self.device.type == "cuda":
            kwargs["device_ids"] = [self.device.index]
        return torch.nn.parallel.DistributedDataParallel(self.model, **kwargs)

    def _loader(self) -> torch.utils.data.DataLoader:
        from torch.utils.data import DataLoader

        from reid.data.dataset import collate, worker_init_fn

        return DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            num_workers=self.workers,
            collate_fn=collate,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if self.workers > 0 else None,
            worker_init_fn=worker_init_fn() if self.workers > 0 else None,
        )

    def _train_epoch(self, epoch: int) -> tuple[float, int, float]:
        """One pass over the sampler's batches: ``(sum of finite losses, their count, seconds)``."""
        from reid.data.dataset import check_batch

        self.sampler.set_epoch(epoch)
        self.net.train()
        started = time.perf_counter()
        loss_sum, loss_count = 0.0, 0
        for images, labels, indices, ok in self.loader:
            check_batch(ok, indices, self.dataset.records)
            loss = self.step(images, labels, epoch)
            if loss is not None:
                loss_sum += loss
                loss_count += 1
            if self.callbacks.progress is not None:
                elapsed = time.perf_counter() - started
                done_here = self.global_step - epoch * self.steps_per_epoch
                self.callbacks.progress(
                    self.global_step,
                    self.total_steps,
                    epoch=epoch + 1,
                    loss=loss_sum / max(1, loss_count),
                    lr=self.optimizer.param_groups[0]["lr"],
                    it_s=done_here / max(elapsed, 1e-9),
                )
        return loss_sum, loss_count, time.perf_counter() - started

    # -- step ----------------------------------------------------------------------------------------------
    def step(self, images: torch.Tensor, labels: torch.Tensor, epoch: int) -> float | None:
        """One optimiser step on a batch; ``None`` when it was skipped for a non-finite loss or gradient.

        The check covers the loss and every gradient on every step, with or without ``optim.grad_clip``; a
        skipped step leaves the weights, the optimiser state and the BatchNorm statistics as they were.
        """
        from reid.data.transforms import normalize_on_device
        from reid.train.guard import all_finite
        from reid.train.schedule import lr_factor

        cfg, mc = self.cfg, self.cfg.model
        factor = lr_factor(self.global_step, cfg.schedule, self.steps_per_epoch, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        x = normalize_on_device(images.to(self.device, non_blocking=True), mc.mean, mc.std)
        y = labels.to(self.device, non_blocking=True)
        buffers = [b.detach().clone() for b in self.model.buffers()]
        loss = self._forward_backward(x, y)
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)  # the check and the clipping see the true gradients
        finite = all_finite([loss.detach(), *(p.grad for p in self.model.parameters())])
        self.global_step += 1
        if distributed.any_true(not finite, self.info, self.device):  # every rank takes the same branch
            self._skip_step(buffers, epoch)
            return None
        if cfg.optim.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    def _forward_backward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The loss of a batch, with its gradients accumulated (even when it is not finite: under DDP every
        rank must take part in the gradient reduction)."""
        cfg, info = self.cfg, self.info
        try:
            ctx = torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else contextlib.nullcontext()
            with ctx:
                emb = self.net(x)
            emb = emb.float()
            if cfg.loss.gather and info.enabled:
                loss = self.loss_fn(
                    distributed.all_gather_with_grad(emb, info), distributed.all_gather_plain(y, info)
                )
            else:
                loss = self.loss_fn(emb, y)
            (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        except torch.cuda.OutOfMemoryError as exc:
            mc = cfg.model
            raise TrainingError(
                f"the GPU ran out of memory with a batch of {cfg.sampler.p}x{cfg.sampler.k} images of "
                f"{mc.input_size[0]}x{mc.input_size[1]}",
                "lower sampler.p or model.input_size, or spread the batch over more GPUs with loss.gather=true",
            ) from exc
        return loss

    def _skip_step(self, buffers: list[torch.Tensor], epoch: int) -> None:
        """Drop a non-finite step: no optimiser step, BatchNorm statistics restored, the step counted."""
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for buffer, saved in zip(self.model.buffers(), buffers, strict=True):
                buffer.copy_(saved)
        if self.scaler is not None:
            self.scaler.update()  # unscale_ recorded the overflow: the scale goes down, as after a skipped step
        self.nonfinite += 1
        if self.nonfinite > self.cfg.max_nonfinite:
            raise TrainingError(
                f"the loss or its gradient was not finite in {self.nonfinite} steps (limit max_nonfinite="
                f"{self.cfg.max_nonfinite}); training stopped at epoch {epoch + 1}",
                "lower optim.lr, set optim.grad_clip, or turn off amp",
            )

    # -- epoch end -----------------------------------------------------------------------------------------
    def end_epoch(self, epoch: int, loss_sum: float, loss_count: int, seconds: float) -> dict[str, Any]:
        """The epoch's metrics row: mean loss over all processes, speed, skipped steps, validation."""
        from reid.train.run_folder import LAST, require_finite
        from reid.train.validate import validate

        cfg, info, mc = self.cfg, self.info, self.cfg.model
        mean_loss = loss_sum / loss_count if loss_count else float("nan")
        if info.enabled:
            t = torch.tensor([loss_sum, float(loss_count)], device=self.device, dtype=torch.float64)
            torch.distributed.all_reduce(t)
            mean_loss = float(t[0] / t[1]) if t[1] > 0 else float("nan")
        # Every rank checks (they hold the same weights), so all stop together before anything is written.
        require_finite(
            {"state_dict": self.model.state_dict(), "train_state": {"optimizer": self.optimizer.state_dict()}},
            self.folder / LAST,
        )
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": self.global_step,
            "loss": mean_loss,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(seconds, 3),
            "it_s": round(self.steps_per_epoch / max(seconds, 1e-9), 3),
            "nonfinite_steps": self.nonfinite,
        }
        is_last = epoch + 1 == cfg.epochs
        if info.is_main and self.data.val and ((epoch + 1) % cfg.val_every == 0 or is_last):
            row.update(
                validate(
                    self.model,
                    self.data.val,
                    mc.input_size,
                    mc.mean,
                    mc.std,
                    self.device,
                    cfg.val_batch_size,
                    self.workers,
                    self.amp_dtype,
                )
            )
        return row

    # -- save ----------------------------------------------------------------------------------------------
    def save(self, row: dict[str, Any]) -> None:
        """``best.pt`` when the epoch is the best so far, ``last.pt`` with the whole training state, the row."""
        from reid.models.checkpoint import make_checkpoint
        from reid.train.state import capture_rng

        rngs = [capture_rng()]
        if self.info.enabled:
            rngs = [None] * self.info.world_size
            torch.distributed.all_gather_object(rngs, capture_rng())
        if self.info.is_main:
            cfg, mc, meta = self.cfg, self.cfg.model, self._meta()
            has_val = bool(self.data.val)
            if (cfg.best_metric in row and _better(row, self.best, cfg.best_metric)) or not has_val:
                self.best = dict(row)
                selected = cfg.best_metric if has_val else "last epoch (no validation)"
                self.folder.save_best(make_checkpoint(self.model, mc, meta={**meta, **row, "selected_by": selected}))
            train_state = {
                "epoch": row["epoch"],
                "step": self.global_step,
                "nonfinite": self.nonfinite,
                "best": self.best,
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                "sampler": self.sampler.state_dict(batches_done=self.steps_per_epoch),
                "rng": rngs,
            }
            self.folder.save_last(make_checkpoint(self.model, mc, meta={**meta, **row}, train_state=train_state))
            self.folder.append_metrics(row)
            self.history.append(row)
            if self.callbacks.on_epoch is not None:
                self.callbacks.on_epoch(row)
        distributed.barrier(self.info)

    def _meta(self) -> dict[str, Any]:
        from reid import __version__

        cfg, data = self.cfg, self.data
        return {
            "reid_version": __version__,
            "dataset": {"kind": cfg.data.kind, "root": cfg.data.root, "split": cfg.data.split},
            "num_train_ids": len(set(r.label for r in data.train)),
            "num_train_images": len(data.train),
            "validation": data.val_source,
            "loss": cfg.loss.model_dump(mode="json"),
            "world_size": self.info.world_size,
            "train_config": cfg.model_dump(mode="json"),
        }

    def _warn(self, line: str | None) -> None:
        if line and self.callbacks.on_warning is not None:
            self.callbacks.on_warning(line)
