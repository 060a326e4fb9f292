"""Learning-rate schedules and the training config schema."""

from __future__ import annotations

import pytest

from reid.errors import ConfigError
from reid.train.config import ScheduleConfig, TrainConfig
from reid.train.schedule import lr_factor


def test_warmup_then_cosine_to_min():
    cfg = ScheduleConfig(name="cosine", warmup_epochs=1, min_lr_ratio=0.1)
    f = [lr_factor(s, cfg, steps_per_epoch=10, total_steps=100) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:], strict=False))
    assert f[-1] == pytest.approx(0.1, abs=1e-3)


def test_step_decay_at_milestones():
    cfg = ScheduleConfig(name="step", milestones=[2, 4], gamma=0.3)
    assert lr_factor(19, cfg, 10, 60) == 1.0
    assert lr_factor(20, cfg, 10, 60) == pytest.approx(0.3)
    assert lr_factor(45, cfg, 10, 60) == pytest.approx(0.09)


def test_config_rejects_unknown_keys_and_values():
    from reid.config import load_config

    with pytest.raises(ConfigError, match="unknown key optim.lrr"):
        load_config(TrainConfig, overrides=["optim.lrr=1"])
    with pytest.raises(ConfigError, match="model.arch"):
        load_config(TrainConfig, overrides=["model.arch=vgg"])
    cfg = load_config(TrainConfig, overrides=["loss.gather=true", "loss.variant=PNP-I_u"])
    assert cfg.loss.gather and cfg.loss.loss_config().variant == "Iu"


def test_recipes_follow_the_paper():
    from reid.config import builtin_config, load_any_config

    cfg = load_any_config(builtin_config("vehicleid_pnp.yaml"))
    assert isinstance(cfg, TrainConfig)
    assert (cfg.model.arch, cfg.model.embedding_dim, cfg.model.freeze_bn) == ("resnet50", 512, True)
    assert cfg.sampler.p * cfg.sampler.k == 384 and cfg.sampler.k == 4
    assert (cfg.loss.name, cfg.loss.variant, cfg.loss.alpha, cfg.loss.anneal) == ("pnp", "Dq", 4.0, 0.01)
    assert (cfg.optim.name, cfg.optim.lr) == ("adam", 1e-5)
    assert isinstance(load_any_config(builtin_config("veri_pnp.yaml")), TrainConfig)
