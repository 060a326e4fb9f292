"""torchvision backbones cut before their classifier, in one explicit registry.

Each entry builds the full torchvision model (random weights; ImageNet weights are loaded afterwards by
:func:`build_backbone`, never downloaded in a constructor) and returns the convolutional trunk that maps an
image batch (B, 3, H, W) to a feature map (B, C, h, w), together with C.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from reid.errors import WeightsError


def _resnet(name: str) -> Callable[[], tuple[nn.Module, nn.Module, int]]:
    def build() -> tuple[nn.Module, nn.Module, int]:
        import torchvision

        full = getattr(torchvision.models, name)(weights=None)
        trunk = nn.Sequential(
            full.conv1, full.bn1, full.relu, full.maxpool, full.layer1, full.layer2, full.layer3, full.layer4
        )
        return full, trunk, full.fc.in_features

    return build


def _features(name: str, channels: int) -> Callable[[], tuple[nn.Module, nn.Module, int]]:
    """Models whose trunk is ``.features`` (MobileNet, EfficientNet, ConvNeXt)."""

    def build() -> tuple[nn.Module, nn.Module, int]:
        import torchvision

        full = getattr(torchvision.models, name)(weights=None)
        return full, full.features, channels

    return build


# arch -> builder returning (full torchvision model, trunk, trunk channels). The full model is kept only so
# that torchvision's ImageNet state dict (whose keys name the full model) can be loaded into the trunk.
BACKBONES: dict[str, Callable[[], tuple[nn.Module, nn.Module, int]]] = {
    "resnet18": _resnet("resnet18"),
    "resnet50": _resnet("resnet50"),
    "resnet101": _resnet("resnet101"),
    "resnet34": _resnet("resnet34"),
    "mobilenet_v3_large": _features("mobilenet_v3_large", 960),
    "mobilenet_v3_small": _features("mobilenet_v3_small", 576),
    "efficientnet_b0": _features("efficientnet_b0", 1280),
    "convnext_tiny": _features("convnext_tiny", 768),
}


def build_trunk(cfg, pretrained: str = "none") -> tuple[nn.Module, int]:  # type: ignore[no-untyped-def]
    """The trunk a :class:`~reid.models.config.ModelConfig` describes: torchvision's, or fast-reid's ResNet layout.

    ``pretrained`` is ``"none"``, ``"imagenet"`` or a torchvision ``.pth`` file, as for :func:`build_backbone`.
    A fast-reid layout trunk without IBN takes torchvision's ResNet ImageNet weights (its parameter names are
    the same); with IBN there are none in torchvision, and the error says where weights come from instead.
    """
    from reid.models.ibn_resnet import IBN_RESNETS, IMAGENET_TWIN, build_ibn_resnet

    if cfg.arch not in IBN_RESNETS:
        return build_backbone(cfg.arch, pretrained)
    trunk, channels = build_ibn_resnet(
        cfg.arch, cfg.ibn, cfg.last_stride, cfg.non_local, cfg.non_local_channels
    )
    source = (pretrained or "none").strip()
    if source.lower() == "none":
        return trunk, channels
    if cfg.ibn:
        raise WeightsError(
            f"torchvision has no ImageNet weights for {cfg.arch} with IBN",
            "set model.pretrained to a reid checkpoint (e.g. one from 'reid weights import fastreid') or none",
        )
    from reid.weights import load_imagenet_state_dict

    twin = IMAGENET_TWIN[cfg.arch]
    state = load_imagenet_state_dict(twin, None if source.lower() == "imagenet" else source)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = trunk.load_state_dict(state, strict=False)
    bad = [k for k in missing if not k.startswith("NL_")]  # non-local blocks start fresh (as identities)
    if bad or unexpected:
        raise WeightsError(
            f"weights for {cfg.arch} from {source} do not fit the network "
            f"({len(bad)} missing, {len(unexpected)} unexpected keys, e.g. {(bad or list(unexpected))[0]})",
            f"check model.pretrained: it must be a torchvision {twin} ImageNet state dict",
        )
    return trunk, channels


def build_backbone(
    arch: str, pretrained: str = "none", flag: str = "model.pretrained"
) -> tuple[nn.Module, int]:
    """The trunk of ``arch`` and its output channels, with ImageNet weights when ``pretrained`` asks for them.

    ``pretrained`` is ``"none"`` (random init), ``"imagenet"`` (torchvision's weights from the local cache,
    downloaded once where there is internet) or the path of a local torchvision ``.pth`` file.
    """
    if arch not in BACKBONES:
        raise WeightsError(f"unknown backbone {arch!r}", f"valid: {', '.join(BACKBONES)}")
    full, trunk, channels = BACKBONES[arch]()
    source = (pretrained or "none").strip()
    if source.lower() != "none":
        from reid.weights import load_imagenet_state_dict

        local = None if source.lower() == "imagenet" else source
        state = load_imagenet_state_dict(arch, local, flag=flag)
        # Classifier weights are not part of the trunk; everything else must match exactly.
        missing, unexpected = full.load_state_dict(state, strict=False)
        trunk_keys = {k for k, _ in full.named_parameters()} & {k for k in missing}
        head = ("fc.", "classifier.")
        bad = [k for k in trunk_keys if not k.startswith(head)]
        if bad or len(unexpected) > 0:
            raise WeightsError(
                f"weights for {arch} from {source} do not fit the network "
                f"({len(bad)} missing, {len(unexpected)} unexpected keys, e.g. {(bad or list(unexpected))[0]})",
                f"check {flag}: it must be a torchvision {arch} ImageNet state dict",
            )
    return trunk, channels
