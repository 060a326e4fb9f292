"""The loss registry, its config, and the baselines (Smooth-AP checked against the library where it is right)."""

from __future__ import annotations

import pytest
import torch
from pytorch_metric_learning.losses import SmoothAPLoss as LibrarySmoothAP

from reid.config import validate_config
from reid.errors import ConfigError
from reid.losses import LOSSES, LossConfig, PNPLoss, SmoothAPLoss, build_loss


def test_registry_names_are_the_documented_ones():
    assert list(LOSSES) == ["pnp", "smoothap", "fastap", "triplet", "multisimilarity", "contrastive"]


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_builds_and_gives_a_finite_scalar_with_gradients(name):
    torch.manual_seed(0)
    x = torch.randn(16, 8, requires_grad=True)
    labels = torch.tensor([3, 3, 3, 3, 7, 7, 7, 7, 1, 1, 1, 1, 0, 0, 0, 0])
    loss = build_loss(LossConfig(name=name))(x, labels)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_computes_in_float32_under_autocast(name):
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 8)
    labels = torch.arange(4).repeat_interleave(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = build_loss(LossConfig(name=name))(layer(torch.randn(16, 8)), labels)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_pnp_builder_passes_the_config_through():
    loss = build_loss(LossConfig(name="pnp", variant="PNP-I_b", b=3.0, anneal=0.05, alpha=2.0))
    assert isinstance(loss, PNPLoss)
    assert (loss.variant, loss.b, loss.anneal, loss.alpha) == ("Ib", 3.0, 0.05, 2.0)


def test_config_defaults_are_the_papers_pnp_dq():
    cfg = LossConfig()
    assert (cfg.name, cfg.variant, cfg.alpha, cfg.anneal, cfg.b) == ("pnp", "Dq", 4.0, 0.01, 2.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"variant": "D_q"}, "variant.*valid names"),
        ({"name": "arcface"}, "name"),
        ({"anneal": 0}, "anneal"),
        ({"alpha": -1}, "alpha"),
        ({"num_bins": 1}, "num_bins"),
        ({"gather": True}, "unknown key gather"),
    ],
)
def test_bad_config_values_are_one_line_config_errors(data, message):
    with pytest.raises(ConfigError, match=message) as info:
        validate_config(LossConfig, data, "train.yaml")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("pk", [(3, 3), (4, 4)])
def test_smooth_ap_matches_the_library_when_p_equals_k(pk):
    p, k = pk
    labels = torch.arange(p).repeat_interleave(k)
    x = torch.randn(p * k, 8, generator=torch.Generator().manual_seed(p), dtype=torch.float64)
    x_lib, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    lib = LibrarySmoothAP(temperature=0.1)(x_lib, labels)  # the library computes part of it in float32
    ours = SmoothAPLoss(temperature=0.1)(x_ours, labels)
    lib.backward()
    ours.backward()
    torch.testing.assert_close(ours, lib.to(ours.dtype), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x_ours.grad, x_lib.grad, rtol=1e-4, atol=1e-5)


def test_smooth_ap_is_zero_on_a_perfectly_separated_batch_with_p_not_k():
    # 2 identities x 4 images, each identity on its own axis: AP is 1 for every anchor.
    x = torch.zeros(8, 2)
    x[:4, 0] = 1
    x[4:, 1] = 1
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    assert SmoothAPLoss()(x, labels).item() == pytest.approx(0.0, abs=1e-6)
    # ...and uneven counts work too (the library refuses them).
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])
    x[3] = torch.tensor([0.0, 1.0])
    assert SmoothAPLoss()(x, labels).item() == pytest.approx(0.0, abs=1e-6)


def test_smooth_ap_without_positives_is_zero():
    x = torch.randn(4, 3, requires_grad=True)
    loss = SmoothAPLoss()(x, torch.arange(4))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(x.grad, torch.zeros_like(x))


def test_config_and_registry_import_without_torch():
    """Training configs validate the loss section without paying for a torch import."""
    import subprocess
    import sys

    code = "import sys, reid.losses as m; m.LossConfig(variant='PNP-D_q'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
