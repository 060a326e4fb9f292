"""The embedding network: backbone -> pooling -> BNNeck -> linear -> L2 normalisation.

The output is a unit vector per image, so that cosine similarity is a dot product, which is what the
PNP ranking loss, the evaluation protocols and the faiss inner-product gallery all assume. Without a linear
layer (``embedding_dim: null``) the neck feature itself is the embedding, which is how fast-reid's networks
embed (2048-d for a ResNet-50).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from reid.models.backbones import build_trunk
from reid.models.config import ModelConfig
from reid.models.pooling import POOLINGS, GeM


class Embedder(nn.Module):
    """Maps a normalised image batch (B, 3, H, W) to L2-normalised embeddings (B, embedding_dim)."""

    def __init__(self, cfg: ModelConfig, load_pretrained: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        pretrained = cfg.pretrained if load_pretrained else "none"
        self.backbone, channels = build_trunk(cfg, pretrained)
        self.pool = GeM(cfg.gem_p, learn_p=cfg.gem_learn_p) if cfg.pooling == "gem" else POOLINGS[cfg.pooling]()
        # BNNeck (Luo et al. 2019): a BatchNorm on the pooled feature without a learnable shift, which puts
        # features on a comparable scale before the projection and eases metric learning.
        self.neck: nn.Module = nn.BatchNorm1d(channels) if cfg.bnneck else nn.Identity()
        if cfg.bnneck:
            self.neck.bias.requires_grad_(False)
        self.fc: nn.Module = nn.Identity()
        if cfg.embedding_dim is not None:
            self.fc = nn.Linear(channels, cfg.embedding_dim)
            nn.init.kaiming_normal_(self.fc.weight, mode="fan_out")
            nn.init.zeros_(self.fc.bias)
        self.feature_dim = channels

    @property
    def embedding_dim(self) -> int:
        return self.cfg.embedding_dim if self.cfg.embedding_dim is not None else self.feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.pool(self.backbone(x))
        feats = self.neck(feats.float() if isinstance(self.neck, nn.BatchNorm1d) else feats)
        emb = self.fc(feats)
        return F.normalize(emb.float(), dim=1)

    def train(self, mode: bool = True) -> Embedder:
        """Like ``nn.Module.train``, but with ``freeze_bn`` the backbone's BatchNorm layers stay in eval mode.

        The PNP authors' recipe fixes the running statistics of the ImageNet backbone: P×K batches of a few
        identities have very different statistics from ImageNet, and updating them hurts retrieval.
        """
        super().train(mode)
        if mode and self.cfg.freeze_bn:
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self


def build_model(cfg: ModelConfig, load_pretrained: bool = True) -> Embedder:
    """Build the embedding network of ``cfg`` with the weights ``cfg.pretrained`` names, when allowed.

    ``cfg.pretrained`` may be ImageNet (torchvision), ``none``, or a reid checkpoint: then the network starts
    from that checkpoint's backbone, pooling and neck (see :mod:`reid.models.pretrained`).
    """
    from reid.models.pretrained import is_checkpoint_source, start_from_checkpoint

    if load_pretrained and is_checkpoint_source(cfg.pretrained):
        return start_from_checkpoint(Embedder(cfg, load_pretrained=False), cfg.pretrained)
    return Embedder(cfg, load_pretrained=load_pretrained)


class ImagenetFeatures(nn.Module):
    """An ImageNet backbone with global average pooling and L2 normalisation: a re-ID baseline without training."""

    def __init__(self, trunk: nn.Module, channels: int) -> None:
        super().__init__()
        self.backbone = trunk
        self.embedding_dim = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.backbone(x).float().mean(dim=(-2, -1)), dim=1)
