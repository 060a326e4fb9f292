"""The non-local block (Wang et al., CVPR 2018) as fast-reid's SBS models use it.

A non-local block lets every position of a feature map look at every other one: a vehicle's roof lights and
its plate are far apart on the map but both identify it. It is residual (``z = W(y) + x``) with a BatchNorm
at the end of ``W`` initialised to zero, so a freshly added block starts as the identity and cannot hurt a
pretrained backbone.

The parameter names (``g``, ``theta``, ``phi``, ``W.0``, ``W.1``) are fast-reid's, so its weights load by name.
fast-reid computes its inner width as ``reduc_ratio // reduc_ratio`` (always 1) instead of ``in / 2``; the
published SBS files therefore have 1-channel ``g``/``theta``/``phi`` convolutions. The width is a parameter
here and the importer reads it from the weights.
"""

from __future__ import annotations

import torch
from torch import nn


class NonLocal(nn.Module):
    """Embedded-Gaussian-free ("dot product") non-local block: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int, inner: int | None = None) -> None:
        super().__init__()
        self.inner = int(inner) if inner else max(1, channels // 2)
        self.g = nn.Conv2d(channels, self.inner, kernel_size=1)
        self.theta = nn.Conv2d(channels, self.inner, kernel_size=1)
        self.phi = nn.Conv2d(channels, self.inner, kernel_size=1)
        self.W = nn.Sequential(nn.Conv2d(self.inner, channels, kernel_size=1), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        g = self.g(x).flatten(2).transpose(1, 2)  # (B, HW, inner)
        theta = self.theta(x).flatten(2).transpose(1, 2)  # (B, HW, inner)
        phi = self.phi(x).flatten(2)  # (B, inner, HW)
        # The "dot product" form: affinities divided by the number of positions, no softmax.
        f = torch.matmul(theta, phi) / (h * w)
        y = torch.matmul(f, g).transpose(1, 2).reshape(b, self.inner, h, w)
        return self.W(y) + x
