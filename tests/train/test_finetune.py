"""Fine-tuning an imported fast-reid network with PNP: ``reid train --set model.pretrained=model.pt``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from reid.config import configs_dir


def _reid(*args: str, env: dict) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "reid_cli.main", *args], capture_output=True, text=True, timeout=900,
        env={**os.environ, **env},
    )  # fmt: skip


@pytest.mark.slow
def test_recipe_fine_tunes_an_imported_network(
    tiny_vehicleid, fastreid_like, save_fastreid, tmp_path
) -> None:
    from reid.models.checkpoint import checkpoint_model_config, load_checkpoint
    from reid.models.fastreid_import import import_fastreid

    state, _ = fastreid_like()
    imported = import_fastreid(save_fastreid(state), tmp_path / "model.pt").out
    env = {"REID_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "run"
    sets = [
        f"model.pretrained={imported}", "model.input_size=[32,32]", "sampler.p=4", "sampler.k=2",
        "sampler.batches_per_epoch=2", "data.val_ids=4", "data.num_workers=0", "epochs=1", "val_batch_size=8",
    ]  # fmt: skip
    args = [
        "train",
        "--config",
        str(configs_dir() / "vehicleid_pnp_finetune.yaml"),
        "--data",
        str(tiny_vehicleid),
    ]
    result = _reid(*args, "--out", str(out), *[x for s in sets for x in ("--set", s)], env=env)
    assert result.returncode == 0, result.stderr

    best = load_checkpoint(out / "best.pt")
    cfg = checkpoint_model_config(best)
    assert (cfg.arch, cfg.ibn, tuple(cfg.non_local), cfg.embedding_dim) == (
        "fastreid_resnet50",
        True,
        (0, 2, 3, 0),
        None,
    )
    assert cfg.interpolation == "bicubic" and tuple(cfg.input_size) == (32, 32)
    start = load_checkpoint(imported)["state_dict"]
    tuned = best["state_dict"]
    # It started from the imported weights (two Adam steps at lr 1e-5 move each weight by about 2e-5 at
    # most; a fresh initialisation would be off by far more) and it did train.
    conv = "backbone.layer3.0.conv2.weight"
    assert float((tuned[conv] - start[conv]).abs().max()) < 1e-4
    assert not torch.equal(tuned[conv], start[conv])
    assert float((tuned["pool.p"] - start["pool.p"]).abs()) < 1e-3
    # freeze_bn (the recipe's) kept the backbone's BatchNorm statistics.
    assert torch.equal(
        tuned["backbone.layer2.1.bn2.running_mean"], start["backbone.layer2.1.bn2.running_mean"]
    )

    listing = _reid("weights", "list", "--json", env=env)
    (entry,) = json.loads(listing.stdout)
    assert entry["kind"] == "trained" and entry["path"] == str((out / "best.pt").resolve())
    assert f"from {imported}" in entry["origin"]


def test_recipe_refuses_keys_that_contradict_the_checkpoint(fastreid_like, save_fastreid, tmp_path) -> None:
    from reid.config import load_config
    from reid.errors import ConfigError
    from reid.models.fastreid_import import import_fastreid
    from reid.models.pretrained import resolve_model_config
    from reid.train.config import TrainConfig

    state, _ = fastreid_like()
    imported = import_fastreid(save_fastreid(state), tmp_path / "model.pt").out
    recipe = configs_dir() / "vehicleid_pnp_finetune.yaml"
    cfg = load_config(TrainConfig, recipe, [f"model.pretrained={imported}"])
    resolved = resolve_model_config(cfg.model)
    assert resolved.arch == "fastreid_resnet50" and resolved.freeze_bn and resolved.embedding_dim is None
    # The plain PNP recipe names a torchvision ResNet-50: starting it from the imported file is refused.
    plain = load_config(TrainConfig, configs_dir() / "vehicleid_pnp.yaml", [f"model.pretrained={imported}"])
    with pytest.raises(ConfigError, match=r"model\.arch is 'resnet50'.*vehicleid_pnp_finetune\.yaml"):
        resolve_model_config(plain.model)
