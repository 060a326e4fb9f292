"""``--resume`` with a truncated or corrupt ``last.pt``: one warning line, and the lost epoch is trained again
(from ``last.prev.pt``, or from the first epoch), ending where an uninterrupted run ends."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from reid.models.checkpoint import load_checkpoint
from reid.train.loop import train

from .conftest import tiny_config


class Killed(Exception):
    pass


def _config(root):
    return tiny_config(root, epochs=3, **{"data.val_ids": 0, "sampler.batches_per_epoch": 1})


def _resume(root, out) -> tuple[object, list[str]]:
    """Resume ``out``; returns the result and the warnings about the saved state (one line each)."""
    warnings: list[str] = []
    result = train(_config(root), out, resume=True, on_warning=warnings.append)
    return result, [w for w in warnings if "last" in w]


@pytest.fixture(scope="module")
def straight(tiny_vehicleid, tmp_path_factory):
    """An uninterrupted 3-epoch run: what every resumed run below must end with, bit for bit."""
    out = tmp_path_factory.mktemp("straight") / "run"
    train(_config(tiny_vehicleid), out)
    return load_checkpoint(out / "last.pt")["state_dict"]


@pytest.fixture(scope="module")
def killed_after_two(tiny_vehicleid, tmp_path_factory):
    """The same run killed after its second epoch (last.pt = epoch 2, last.prev.pt = epoch 1)."""
    out = tmp_path_factory.mktemp("killed") / "run"

    def kill(row):
        if row["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        train(_config(tiny_vehicleid), out, on_epoch=kill)
    return out


def _damage(path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "zeroed":  # still a readable zip: only the digest notices
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes(4096) + data[middle + 4096 :])
    else:
        path.write_bytes(b"not a checkpoint at all")


def _same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    "how", [pytest.param("truncated", marks=pytest.mark.slow), "zeroed", pytest.param("garbage", marks=pytest.mark.slow)]
)
def test_damaged_last_pt_resumes_from_the_epoch_before(tiny_vehicleid, killed_after_two, straight, tmp_path, how):
    out = tmp_path / "run"
    shutil.copytree(killed_after_two, out)
    _damage(out / "last.pt", how)
    result, warnings = _resume(tiny_vehicleid, out)
    assert result.resumed_from == 1
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "last.pt" in warnings[0] and "last.prev.pt (epoch 1)" in warnings[0]
    assert "epoch 2 is trained again" in warnings[0]
    assert _same_weights(load_checkpoint(out / "last.pt")["state_dict"], straight)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]


@pytest.mark.slow
def test_both_saved_states_damaged_start_again_from_the_first_epoch(
    tiny_vehicleid, killed_after_two, straight, tmp_path
):
    out = tmp_path / "run"
    shutil.copytree(killed_after_two, out)
    _damage(out / "last.pt", "truncated")
    _damage(out / "last.prev.pt", "garbage")
    result, warnings = _resume(tiny_vehicleid, out)
    assert result.resumed_from is None
    assert len(warnings) == 1 and "training starts again from epoch 1" in warnings[0]
    assert "last.pt" in warnings[0] and "last.prev.pt" in warnings[0]
    assert _same_weights(load_checkpoint(out / "last.pt")["state_dict"], straight)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]


@pytest.mark.slow
def test_missing_last_pt_with_a_previous_one_resumes_from_it(tiny_vehicleid, killed_after_two, straight, tmp_path):
    # What a crash between keeping last.prev.pt and writing last.pt leaves where hard links are unsupported.
    out = tmp_path / "run"
    shutil.copytree(killed_after_two, out)
    (out / "last.pt").unlink()
    result, warnings = _resume(tiny_vehicleid, out)
    assert result.resumed_from == 1 and "is missing" in warnings[0]
    assert _same_weights(load_checkpoint(out / "last.pt")["state_dict"], straight)


def test_cli_resume_of_a_damaged_run_warns_in_one_line_and_finishes(tiny_vehicleid, tmp_path, reid_main):
    from reid.config import config_to_yaml

    out = tmp_path / "run"
    cfg = tiny_config(tiny_vehicleid, epochs=1, **{"data.val_ids": 0, "sampler.batches_per_epoch": 1})
    train(cfg, out)
    (out / "config.yaml").write_text("kind: train\n" + config_to_yaml(cfg))
    _damage(out / "last.pt", "truncated")
    code, stdout, stderr = reid_main("train", "--out", str(out), "--resume", "--epochs", "2")
    assert code == 0, stderr
    assert "Traceback" not in stdout + stderr
    warning = [line for line in stdout.splitlines() if line.startswith("warning:") and "last" in line]
    assert len(warning) == 1, stdout
    assert "last.pt is truncated or corrupt" in warning[0] and "starts again from epoch 1" in warning[0]
    assert load_checkpoint(out / "last.pt")["train_state"]["epoch"] == 2
