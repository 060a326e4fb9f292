"""Global pooling of a feature map into one vector per image."""

from __future__ import annotations

import torch
from torch import nn


class GeM(nn.Module):
    """Generalised mean pooling with a learnable exponent ``p`` (Radenović et al. 2018).

    ``p = 1`` is average pooling and ``p -> inf`` max pooling; learning ``p`` lets the network decide how much
    to focus on the strongest activations, which helps re-ID where a few parts (lights, logos) identify a car.
    With ``learn_p=False`` the exponent is a fixed buffer (fast-reid's ``GeneralizedMeanPooling``); either way
    it is saved as ``p``, so a checkpoint always says which exponent its network pools with.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learn_p: bool = True) -> None:
        super().__init__()
        value = torch.tensor(float(p))
        if learn_p:
            self.p = nn.Parameter(value)
        else:
            self.register_buffer("p", value)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Pool in float32: x ** p overflows bf16/fp16 ranges for large activations under autocast.
        p = self.p.float().clamp(min=1.0)
        pooled = x.float().clamp(min=self.eps).pow(p).mean(dim=(-2, -1))
        return pooled.pow(1.0 / p)

    def extra_repr(self) -> str:
        return f"p={float(self.p.detach()):.3f}, eps={self.eps}"


class AvgPool(nn.Module):
    """Plain global average pooling, (B, C, h, w) -> (B, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(-2, -1))


POOLINGS: dict[str, type[nn.Module]] = {"gem": GeM, "avg": AvgPool}
