"""The training loop: run folder contents, exact resume, guards against bad configs and non-finite losses."""

from __future__ import annotations

import json

import pytest
import torch

from reid.errors import ConfigError, OutputError, TrainingError
from reid.models.checkpoint import load_checkpoint
from reid.train.loop import train

from .conftest import tiny_config


def test_run_folder_and_exact_resume(tiny_vehicleid, tmp_path):
    cfg = tiny_config(tiny_vehicleid)
    straight = train(cfg, tmp_path / "straight")
    assert straight.epochs_done == 2 and straight.num_val_images > 0
    folder = tmp_path / "straight"
    for name in ("best.pt", "last.pt", "metrics.jsonl", "config.yaml"):
        assert (folder / name).is_file(), name
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all({"loss", "lr", "rank1", "rank5", "mAP"} <= set(r) for r in rows)
    assert load_checkpoint(folder / "last.pt")["train_state"]["epoch"] == 2

    # The same run, killed after its first epoch and resumed, ends with bit-identical weights.
    class Killed(Exception):
        pass

    def kill(row):
        raise Killed

    with pytest.raises(Killed):
        train(cfg, tmp_path / "resumed", on_epoch=kill)
    resumed = train(cfg, tmp_path / "resumed", resume=True)
    assert resumed.resumed_from == 1
    a = load_checkpoint(folder / "last.pt")
    b = load_checkpoint(tmp_path / "resumed" / "last.pt")
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    rows_b = [json.loads(line) for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows_b] == [1, 2]
    assert rows_b[1]["loss"] == pytest.approx(rows[1]["loss"])


def test_existing_run_needs_resume_or_overwrite(tiny_vehicleid, tmp_path):
    cfg = tiny_config(tiny_vehicleid, epochs=1, **{"sampler.batches_per_epoch": 1, "data.val_ids": 0})
    train(cfg, tmp_path / "run")
    with pytest.raises(OutputError, match="--resume"):
        train(cfg, tmp_path / "run")
    with pytest.raises(OutputError, match="nothing to resume"):
        train(cfg, tmp_path / "other", resume=True)
    # No validation: best.pt is the last epoch, and says so.
    assert "no validation" in load_checkpoint(tmp_path / "run" / "best.pt")["meta"]["selected_by"]


def test_too_many_identities_per_batch(tiny_vehicleid, tmp_path):
    cfg = tiny_config(tiny_vehicleid, **{"sampler.p": 50})
    with pytest.raises(TrainingError, match="sampler.p=50"):
        train(cfg, tmp_path / "run")


def test_missing_dataset_root(tmp_path):
    from reid.errors import DatasetError

    cfg = tiny_config(tmp_path / "nowhere")
    with pytest.raises(DatasetError):
        train(cfg, tmp_path / "run")
    with pytest.raises(ConfigError, match="data.root"):
        train(
            tiny_config(tmp_path).model_copy(
                update={"data": tiny_config(tmp_path).data.model_copy(update={"root": None})}
            ),
            tmp_path / "r2",
        )


def test_nonfinite_losses_are_skipped_then_stop(tiny_vehicleid, tmp_path, monkeypatch):
    import reid.losses

    class NanLoss(torch.nn.Module):
        def forward(self, emb, labels):
            return emb.sum() * float("nan")

    monkeypatch.setattr(reid.losses, "build_loss", lambda cfg: NanLoss())
    cfg = tiny_config(tiny_vehicleid, max_nonfinite=2, **{"data.val_ids": 0})
    before = None
    with pytest.raises(TrainingError, match="not finite in 3 steps"):
        train(cfg, tmp_path / "run")
    assert before is None


def test_corrupt_training_image_is_named(tiny_vehicleid, tmp_path):
    import shutil

    from reid.errors import DatasetError

    root = tmp_path / "copy"
    shutil.copytree(tiny_vehicleid, root)
    victim = sorted((root / "image").iterdir())[0]
    victim.write_bytes(b"garbage")
    cfg = tiny_config(root, epochs=1, **{"data.val_ids": 0, "sampler.batches_per_epoch": 6})
    with pytest.raises(DatasetError, match=victim.name):
        train(cfg, tmp_path / "run")


def test_data_num_workers_is_capped_to_the_cores_with_a_warning(tiny_vehicleid, tmp_path):
    from reid.procs import available_cores
    from reid.train import distributed
    from reid.train.loop import Callbacks, Trainer

    warnings: list[str] = []
    cfg = tiny_config(tiny_vehicleid, **{"data.num_workers": 100000})
    trainer = Trainer(cfg, tmp_path / "run", distributed.DistInfo(), Callbacks(on_warning=warnings.append))
    trainer.set_up(resume=False, overwrite=False)
    assert trainer.workers == available_cores()
    assert any(f"data.num_workers 100000 capped to {available_cores()}" in w for w in warnings), warnings
