"""ResNet in fast-reid's layout: optional IBN-a blocks, non-local blocks and a last stride of 1.

Why a second ResNet beside torchvision's: the strongest public vehicle re-ID weights (fast-reid's model zoo)
use this network, and it differs from torchvision's in ways that change every output value:

* the stem's max pooling has no padding and rounds up (``ceil_mode``), where torchvision pads by one;
* IBN-a (Pan et al., ECCV 2018): in stages 1-3 the first normalisation of each block is half InstanceNorm,
  half BatchNorm; instance normalisation removes per-image contrast and colour casts, which is what differs
  between cameras, while the BatchNorm half keeps what tells vehicles apart;
* non-local blocks after the last blocks of stages (fast-reid's SBS models: 2 in stage 2, 3 in stage 3);
* a last stride of 1, which doubles the final feature map (16x16 for a 256x256 input) for finer detail.

Module names are fast-reid's (``conv1``, ``layer1.0.bn1.IN``, ``NL_2.0.g``), so its ``backbone.*`` weights
load by name, and torchvision's ImageNet ResNet weights fit the trunk when IBN is off.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reid.models.non_local import NonLocal

# arch -> blocks per stage (bottleneck blocks; fast-reid's 18x/34x basic-block variants are not built).
IBN_RESNETS: dict[str, tuple[int, int, int, int]] = {
    "fastreid_resnet50": (3, 4, 6, 3),
    "fastreid_resnet101": (3, 4, 23, 3),
}
# The torchvision model whose ImageNet weights fit each trunk (without IBN).
IMAGENET_TWIN: dict[str, str] = {"fastreid_resnet50": "resnet50", "fastreid_resnet101": "resnet101"}
STAGE_CHANNELS = (256, 512, 1024, 2048)


class IBN(nn.Module):
    """Instance norm on the first half of the channels, batch norm on the rest."""

    def __init__(self, planes: int) -> None:
        super().__init__()
        self.half = planes // 2
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(planes - self.half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = torch.split(x, [self.half, x.shape[1] - self.half], dim=1)
        return torch.cat((self.IN(first.contiguous()), self.BN(second.contiguous())), dim=1)


class Bottleneck(nn.Module):
    """The ResNet bottleneck (stride on the 3x3 convolution), with IBN-a in its first norm when asked."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, ibn: bool, stride: int, downsample: nn.Module | None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1: nn.Module = IBN(planes) if ibn else nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class IBNResNet(nn.Module):
    """The trunk: (B, 3, H, W) normalised images -> (B, 2048, H/16, W/16) with last stride 1 (H/32 with 2)."""

    def __init__(
        self,
        blocks: Sequence[int],
        ibn: bool = False,
        last_stride: int = 1,
        non_local: Sequence[int] = (0, 0, 0, 0),
        non_local_channels: int | None = None,
    ) -> None:
        super().__init__()
        self._inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        strides = (1, 2, 2, last_stride)
        for i, (planes, n, stride) in enumerate(zip((64, 128, 256, 512), blocks, strides, strict=True)):
            # IBN-a leaves the last stage plain: its features should stay discriminative, not style-free.
            setattr(self, f"layer{i + 1}", self._make_layer(planes, n, stride, ibn and i < 3))
        self.nl_after: list[list[int]] = []
        for i, count in enumerate(non_local):
            if not 0 <= count <= blocks[i]:
                raise ValueError(f"non_local[{i}] = {count}: stage {i + 1} has {blocks[i]} blocks")
            setattr(
                self,
                f"NL_{i + 1}",
                nn.ModuleList(NonLocal(STAGE_CHANNELS[i], non_local_channels) for _ in range(count)),
            )
            # fast-reid puts the blocks after the last `count` blocks of the stage, in order.
            self.nl_after.append(sorted(blocks[i] - (k + 1) for k in range(count)))
        self._init_weights()

    def _make_layer(self, planes: int, n: int, stride: int, ibn: bool) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._inplanes != planes * 4:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, planes * 4, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
        layers = [Bottleneck(self._inplanes, planes, ibn, stride, downsample)]
        self._inplanes = planes * 4
        layers += [Bottleneck(self._inplanes, planes, ibn, 1, None) for _ in range(1, n)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():
            if isinstance(module, NonLocal):  # keep each non-local block an identity at start
                nn.init.zeros_(module.W[1].weight)
                nn.init.zeros_(module.W[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in range(4):
            layer: nn.Sequential = getattr(self, f"layer{stage + 1}")
            blocks: nn.ModuleList = getattr(self, f"NL_{stage + 1}")
            after = self.nl_after[stage]
            for i, block in enumerate(layer):
                x = block(x)
                if i in after:
                    x = blocks[after.index(i)](x)
        return x


def build_ibn_resnet(
    arch: str,
    ibn: bool = False,
    last_stride: int = 1,
    non_local: Sequence[int] = (0, 0, 0, 0),
    non_local_channels: int | None = None,
) -> tuple[IBNResNet, int]:
    """The trunk of ``arch`` (a key of :data:`IBN_RESNETS`) and its output channels (2048)."""
    return IBNResNet(IBN_RESNETS[arch], ibn, last_stride, non_local, non_local_channels), STAGE_CHANNELS[-1]
