"""Starting a network from a reid checkpoint (``model.pretrained: model.pt``): which network, which weights."""

from __future__ import annotations

import pytest
import torch

from reid.config import validate_config
from reid.errors import ConfigError, WeightsError
from reid.models.checkpoint import make_checkpoint, save_checkpoint
from reid.models.config import ModelConfig
from reid.models.embedder import build_model
from reid.models.pretrained import resolve_model_config


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    """An earlier run's checkpoint: resnet18, avg pooling, BNNeck, 64-d projection, 48x48 input."""
    cfg = ModelConfig(
        arch="resnet18", pretrained="none", pooling="avg", embedding_dim=64, input_size=(48, 48)
    )
    torch.manual_seed(1)
    model = build_model(cfg).eval()
    with torch.no_grad():
        model.neck.running_mean.uniform_(-1, 1)
    path = tmp_path_factory.mktemp("earlier") / "best.pt"
    save_checkpoint(path, make_checkpoint(model, cfg))
    return path, model


def _config(**model):
    """A ModelConfig as a YAML/--set would give it: only the keys named count as set by the user."""
    return validate_config(ModelConfig, model)


def test_run_takes_the_checkpoints_network_and_keeps_its_own_choices(earlier) -> None:
    path, _ = earlier
    resolved = resolve_model_config(_config(pretrained=str(path), freeze_bn=True, embedding_dim=32))
    assert (resolved.arch, resolved.pooling, tuple(resolved.input_size)) == ("resnet18", "avg", (48, 48))
    assert resolved.freeze_bn and resolved.embedding_dim == 32 and resolved.pretrained == str(path)
    # Not starting from a checkpoint: nothing changes.
    plain = _config(arch="resnet18", pretrained="none")
    assert resolve_model_config(plain) is plain


def test_a_config_that_contradicts_the_checkpoint_is_refused_by_key(earlier) -> None:
    path, _ = earlier
    with pytest.raises(ConfigError, match=r"model\.pooling is 'gem' in the config.*remove model\.pooling"):
        resolve_model_config(_config(pretrained=str(path), pooling="gem"))
    # The same value as the checkpoint's is fine (a run's own config.yaml, when it resumes).
    assert resolve_model_config(_config(pretrained=str(path), arch="resnet18")).arch == "resnet18"


def test_backbone_pooling_neck_start_from_the_checkpoint(earlier) -> None:
    path, source = earlier
    same = build_model(resolve_model_config(_config(pretrained=str(path))))
    for name, value in source.state_dict().items():
        assert torch.equal(same.state_dict()[name], value), name  # projection of the same size: loaded too
    wider = build_model(resolve_model_config(_config(pretrained=str(path), embedding_dim=32)))
    state = wider.state_dict()
    for name, value in source.state_dict().items():
        if name.startswith(("backbone.", "neck.")):
            assert torch.equal(state[name], value), name
    assert state["fc.weight"].shape == (32, 512)  # a new projection, freshly initialised


def test_missing_or_foreign_pretrained_file(tmp_path, earlier) -> None:
    with pytest.raises(WeightsError, match="model.pretrained .*does not exist"):
        build_model(_config(arch="resnet18", pretrained=str(tmp_path / "absent.pt")))
    path, _ = earlier
    # Building from a config that was not resolved against the checkpoint says what to do.
    with pytest.raises(WeightsError, match="holds another network"):
        build_model(_config(arch="resnet50", pretrained=str(path)))


def test_fastreid_layout_options_need_a_fastreid_backbone() -> None:
    with pytest.raises(ConfigError, match="ibn, last_stride need a fastreid_\\* backbone"):
        _config(arch="resnet50", ibn=True, last_stride=1)
    with pytest.raises(ConfigError, match="stage 2 of fastreid_resnet50 has 4 blocks"):
        _config(arch="fastreid_resnet50", non_local=[0, 5, 0, 0])


def test_fastreid_resnet_takes_torchvision_imagenet_weights(tmp_path) -> None:
    """Without IBN the fast-reid layout has torchvision's parameter names: its ImageNet file fits the trunk."""
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.resnet50(weights=None)
    torch.save(tv.state_dict(), tmp_path / "resnet50.pth")
    cfg = _config(arch="fastreid_resnet50", pretrained=str(tmp_path / "resnet50.pth"), non_local=[0, 1, 1, 0])
    model = build_model(cfg)
    assert torch.equal(model.backbone.layer3[5].conv2.weight, tv.layer3[5].conv2.weight)
    # Non-local blocks start as identities, so the ImageNet trunk is unchanged by them.
    x = torch.randn(2, 1024, 4, 4)
    assert torch.equal(model.backbone.NL_3[0].eval()(x), x)
    with pytest.raises(WeightsError, match="no ImageNet weights for fastreid_resnet50 with IBN"):
        build_model(_config(arch="fastreid_resnet50", ibn=True, pretrained="imagenet"))
