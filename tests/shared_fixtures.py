"""Fixtures shared across test folders (loaded by tests/conftest.py): a private cache, fast-reid-like files."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """reid's user cache (ONNX graphs, the weights list) goes to a test folder, never the user's home."""
    monkeypatch.setenv("REID_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "reid-cache"))


def randomize_(model, seed: int = 0, gem_p: float | None = None, forward=None, size: int = 32):
    """Give every normalisation layer and non-local block non-trivial values, so a comparison tests all of them.

    Freshly built networks have BatchNorm running stats (0, 1), unit scales and zero shifts, and non-local
    blocks that are identities: a converter that mixed those up would still agree on them. Scales and shifts
    are drawn at random, then the running statistics are set to those of a random batch (``forward`` runs it;
    default ``model``), so activations keep a sane scale through 50 or 101 layers instead of overflowing.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.named_parameters():
            if ".W.1." in name:
                # A non-local block's output grows with the cube of its input: keep its scale small, not zero.
                t.copy_(torch.randn(t.shape, generator=g) * 0.05)
            elif name.endswith(".p") and t.numel() == 1:
                if gem_p is not None:
                    t.fill_(gem_p)
            elif name.endswith("bias") and t.ndim == 1:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif name.endswith("weight") and t.ndim == 1:
                t.copy_(1.0 + torch.randn(t.shape, generator=g) * 0.1)
        norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        model.eval()
        for m in norms:
            m.momentum = 1.0
            m.train()
        x = torch.rand(4, 3, size, size, generator=g) * 4 - 2
        (forward or model)(x)
        for m in norms:
            m.momentum = 0.1
        model.eval()
    return model


FASTREID_SBS = {"ibn": True, "non_local": (0, 2, 3, 0), "non_local_channels": 1, "pooling": "gem"}


@pytest.fixture(scope="session")
def randomize():
    """:func:`randomize_`, for tests that build networks of their own."""
    return randomize_


@pytest.fixture(scope="session")
def sbs_arch():
    """The architecture options of fast-reid's VeRi SBS model (IBN-a, non-local 0/2/3/0 of width 1, GeM)."""
    return dict(FASTREID_SBS)


@pytest.fixture(scope="session")
def fastreid_like():
    """``make(**arch) -> (state dict in fast-reid's names, our equivalent Embedder)``, without fast-reid.

    ``arch`` are ModelConfig options of the fast-reid layout; none given: the VeRi SBS model's.

    Our network's tensors renamed the way fast-reid names them (``backbone.*`` as is, ``heads.pool_layer.p``,
    ``heads.bottleneck.0.*``) plus a classifier ``heads.weight``: what an import must turn back into the
    same network. Built once per architecture per session.
    """
    import torch

    from reid.models.config import ModelConfig
    from reid.models.embedder import build_model

    cache: dict = {}

    def make(**arch):
        arch = arch or dict(FASTREID_SBS)
        key = tuple(sorted((k, tuple(v) if isinstance(v, (list, tuple)) else v) for k, v in arch.items()))
        if key not in cache:
            options = {"arch": "fastreid_resnet50", "last_stride": 1, "pooling": "gem", "gem_learn_p": True}
            options.update(arch)
            cfg = ModelConfig(pretrained="none", embedding_dim=None, input_size=(32, 32), **options)
            torch.manual_seed(0)
            model = randomize_(build_model(cfg), gem_p=3.4 if cfg.gem_learn_p else None).eval()
            state = {}
            for name, value in model.state_dict().items():
                if name == "pool.p":
                    if cfg.gem_learn_p:
                        state["heads.pool_layer.p"] = value.reshape(1).clone()
                elif name.startswith("neck."):
                    state["heads.bottleneck.0." + name[len("neck.") :]] = value.clone()
                else:
                    state[name] = value.clone()
            state["heads.weight"] = torch.randn(10, 2048)
            cache[key] = (state, model)
        state, model = cache[key]
        return dict(state), model

    return make


@pytest.fixture()
def save_fastreid(tmp_path):
    """``save(state, name="fr.pth", **extra) -> path``: a fast-reid checkpoint file ``{"model": state, ...}``."""
    import torch

    def save(state, name: str = "fr.pth", **extra):
        path = tmp_path / name
        torch.save({"model": state, **extra}, path)
        return path

    return save
