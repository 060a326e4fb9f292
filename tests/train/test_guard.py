"""The non-finite guard: a NaN or inf gradient skips the step (with or without clipping, with the AMP scaler),
is counted, and no checkpoint with a non-finite tensor is ever written."""

from __future__ import annotations

import json

import pytest
import torch

from reid.errors import TrainingError
from reid.models.checkpoint import load_checkpoint
from reid.train.guard import nonfinite_tensors
from reid.train.loop import Callbacks, Trainer, train
from reid.train.run_folder import RunFolder

from .conftest import tiny_config


class _PoisonGrad(torch.autograd.Function):
    """Identity forward; the gradient flowing back is multiplied by ``value`` (NaN or inf)."""

    @staticmethod
    def forward(ctx, x, value):  # type: ignore[override]
        ctx.value = value
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return grad * ctx.value, None


class PoisonedLoss(torch.nn.Module):
    """The real loss, with a finite value on every call but a non-finite gradient on call ``bad_call``."""

    def __init__(self, inner: torch.nn.Module, bad_call: int, value: float) -> None:
        super().__init__()
        self.inner, self.bad_call, self.value, self.calls = inner, bad_call, value, 0

    def forward(self, emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.bad_call:
            emb = _PoisonGrad.apply(emb, self.value)
        return self.inner(emb, labels)


def _checkpoint_tensors_finite(path) -> bool:
    ckpt = load_checkpoint(path)
    return not nonfinite_tensors({"state_dict": ckpt["state_dict"], "train_state": ckpt.get("train_state")})


@pytest.mark.parametrize(
    ("value", "grad_clip"),
    [(float("nan"), "null"), pytest.param(float("inf"), "10.0", marks=pytest.mark.slow)],
    ids=["nan-noclip", "inf-clip"],
)
def test_nonfinite_gradient_with_finite_loss_is_skipped_and_counted(
    tiny_vehicleid, tmp_path, monkeypatch, value, grad_clip
):
    import reid.losses

    real_build = reid.losses.build_loss
    monkeypatch.setattr(reid.losses, "build_loss", lambda cfg: PoisonedLoss(real_build(cfg), 2, value))
    cfg = tiny_config(
        tiny_vehicleid, epochs=1, **{"optim.grad_clip": grad_clip, "data.val_ids": 0, "sampler.batches_per_epoch": 3}
    )
    result = train(cfg, tmp_path / "run")

    assert result.nonfinite_steps == 1
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["nonfinite_steps"] for r in rows] == [1]
    assert rows[0]["loss"] == rows[0]["loss"]  # the mean loss of the two kept steps is a number
    for name in ("best.pt", "last.pt"):
        assert _checkpoint_tensors_finite(tmp_path / "run" / name), name


def _trainer(root, out, **extra) -> Trainer:
    from reid.train import distributed

    trainer = Trainer(tiny_config(root, **{"data.val_ids": 0, **extra}), out, distributed.DistInfo(), Callbacks())
    trainer.set_up(resume=False, overwrite=False)
    trainer.start_fresh()
    return trainer


def _batch(trainer: Trainer):
    from reid.data.dataset import collate

    indices = next(iter(trainer.sampler))
    images, labels, _, _ = collate([trainer.dataset[i] for i in indices])
    return images, labels


def _snapshot(trainer: Trainer) -> dict:
    return {
        "model": {k: v.clone() for k, v in trainer.model.state_dict().items()},
        "optim": {
            i: {k: v.clone() for k, v in s.items()} for i, s in trainer.optimizer.state_dict()["state"].items()
        },
    }


def _same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(_same(a[k], b[k]) if isinstance(a[k], dict) else torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("grad_clip", ["null", pytest.param("10.0", marks=pytest.mark.slow)], ids=["noclip", "clip"])
def test_skipped_step_leaves_weights_optimiser_and_batchnorm_as_they_were(tiny_vehicleid, tmp_path, grad_clip):
    trainer = _trainer(tiny_vehicleid, tmp_path / "run", **{"optim.grad_clip": grad_clip})
    trainer.net.train()
    images, labels = _batch(trainer)
    assert trainer.step(images, labels, 0) is not None  # a normal step first: Adam has moments to protect
    before = _snapshot(trainer)
    hook = trainer.model.backbone[0].weight.register_hook(lambda g: g * float("nan"))
    try:
        assert trainer.step(images, labels, 0) is None
    finally:
        hook.remove()
    assert trainer.nonfinite == 1 and trainer.global_step == 2
    # BatchNorm running statistics changed during that forward pass; they are restored too.
    assert _same(before, _snapshot(trainer))
    assert trainer.step(images, labels, 0) is not None and not _same(before, _snapshot(trainer))


def test_amp_scaler_step_is_skipped_and_the_scale_lowered(tiny_vehicleid, tmp_path):
    trainer = _trainer(tiny_vehicleid, tmp_path / "run")
    trainer.scaler = torch.amp.GradScaler("cpu")  # the fp16 path's scaler; its logic is device-independent
    trainer.net.train()
    images, labels = _batch(trainer)
    assert trainer.step(images, labels, 0) is not None
    scale, before = trainer.scaler.get_scale(), _snapshot(trainer)
    hook = trainer.model.backbone[0].weight.register_hook(lambda g: g * float("inf"))
    try:
        assert trainer.step(images, labels, 0) is None
    finally:
        hook.remove()
    assert trainer.scaler.get_scale() == scale / 2
    assert _same(before, _snapshot(trainer)) and trainer.nonfinite == 1
    assert trainer.step(images, labels, 0) is not None  # the scaler is ready for the next step


def test_too_many_skipped_steps_stop_the_run(tiny_vehicleid, tmp_path):
    trainer = _trainer(tiny_vehicleid, tmp_path / "run", max_nonfinite=1)
    trainer.net.train()
    images, labels = _batch(trainer)
    hook = trainer.model.backbone[0].weight.register_hook(lambda g: g * float("nan"))
    try:
        assert trainer.step(images, labels, 0) is None
        with pytest.raises(TrainingError, match="not finite in 2 steps"):
            trainer.step(images, labels, 0)
    finally:
        hook.remove()


def test_checkpoint_with_a_nonfinite_tensor_is_never_written(tiny_vehicleid, tmp_path):
    trainer = _trainer(tiny_vehicleid, tmp_path / "run", epochs=1)
    trainer.run()
    last = tmp_path / "run" / "last.pt"
    good = last.read_bytes()
    with torch.no_grad():
        trainer.model.backbone[0].weight[0, 0, 0, 0] = float("inf")
    with pytest.raises(TrainingError, match=r"not writing .*last\.pt.*1 non-finite value in 1 tensor .*backbone\.0\.weight"):
        trainer.end_epoch(1, 1.0, 1, 1.0)
    with pytest.raises(TrainingError, match="non-finite"):
        trainer.save({"epoch": 2, "loss": 1.0})
    assert last.read_bytes() == good and not (tmp_path / "run" / "last.prev.pt").exists()
    folder = RunFolder(tmp_path / "other")
    folder.path.mkdir()
    state = {"format": "reid-embedder", "state_dict": {"w": torch.tensor([1.0, float("nan")])}}
    with pytest.raises(TrainingError, match="best.pt"):
        folder.save_best(state)
    assert not (folder.path / "best.pt").exists()


def test_nonfinite_tensors_names_each_bad_tensor():
    state = {"a": torch.ones(3), "b": [torch.tensor([float("nan"), 1.0, float("-inf")])], "n": torch.arange(3)}
    assert nonfinite_tensors(state) == [("b[0]", 2)]
    assert nonfinite_tensors({"a": torch.zeros(0), "x": 1.5}) == []
