"""Start a network from a reid checkpoint: fine-tuning an imported (fast-reid) or earlier network.

``model.pretrained: model.pt`` names a checkpoint. Two steps make a run start from it:

* :func:`resolve_model_config` (called once when training starts): the run's model config becomes the
  checkpoint's network. The architecture and the preprocessing it was trained with (``ARCHITECTURE``) come
  from the checkpoint, and a config that sets one of them to something else is refused by name, since the
  weights would not fit; ``embedding_dim``, ``input_size`` and ``freeze_bn`` (``RUN_CHOICES``) stay the run's
  own when its config sets them, and are the checkpoint's otherwise;
* :func:`start_from_checkpoint` (inside :func:`reid.models.embedder.build_model`): the backbone, the pooling
  (GeM's learned ``p``) and the neck are loaded from the checkpoint; the projection too when the checkpoint has
  one of the same size, else it starts fresh (e.g. a 512-d layer on an imported 2048-d network).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reid.errors import ConfigError, WeightsError
from reid.models.config import ModelConfig

FLAG = "model.pretrained"
ARCHITECTURE = (
    "arch",
    "ibn",
    "non_local",
    "non_local_channels",
    "last_stride",
    "pooling",
    "gem_p",
    "gem_learn_p",
    "bnneck",
    "mean",
    "std",
    "interpolation",
)
RUN_CHOICES = ("embedding_dim", "input_size", "freeze_bn")
STARTED_FROM = ("backbone.", "pool.", "neck.")


def is_checkpoint_source(source: str) -> bool:
    """Whether ``model.pretrained`` names a reid checkpoint (not ``imagenet``, ``none`` or a torchvision file).

    Looks inside the file (tensors memory-mapped, not read), so the name of the file does not matter; a path
    that does not exist is an error here rather than a confusing one from the ImageNet loader.
    """
    from reid.models.checkpoint import FORMAT, safe_torch_load

    value = (source or "none").strip()
    if value.lower() in ("none", "imagenet"):
        return False
    path = Path(value).expanduser()
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist"
        raise WeightsError(
            f"{FLAG} {path} {state}",
            "use imagenet, none, a torchvision .pth file, or a reid checkpoint (reid weights import fastreid)",
        )
    peek = safe_torch_load(
        path, FLAG, what="weights file", hint="use a file written by reid or torchvision", mmap=True
    )
    return isinstance(peek, dict) and peek.get("format") == FORMAT


def _dump(cfg: ModelConfig, name: str) -> Any:
    return cfg.model_dump(mode="json", include={name})[name]


def _checkpoint_config(source: str) -> tuple[dict[str, Any], ModelConfig]:
    from reid.models.checkpoint import checkpoint_model_config, load_checkpoint

    ckpt = load_checkpoint(source, flag=FLAG)
    return ckpt, checkpoint_model_config(ckpt, source)


def resolve_model_config(cfg: ModelConfig) -> ModelConfig:
    """``cfg`` with the network of the checkpoint it starts from (unchanged when it starts from none/ImageNet)."""
    if not is_checkpoint_source(cfg.pretrained):
        return cfg
    _, base = _checkpoint_config(cfg.pretrained)
    explicit = cfg.model_fields_set
    conflicts = [f for f in ARCHITECTURE if f in explicit and _dump(cfg, f) != _dump(base, f)]
    if conflicts:
        first = conflicts[0]
        raise ConfigError(
            f"model.{first} is {_dump(cfg, first)!r} in the config, but {FLAG} {cfg.pretrained} holds a network "
            f"with {_dump(base, first)!r}",
            f"remove {', '.join('model.' + f for f in conflicts)} from the config: a run started from a "
            "checkpoint takes its network (see configs/vehicleid_pnp_finetune.yaml)",
        )
    data = base.model_dump(mode="json")
    data.update({f: _dump(cfg, f) for f in RUN_CHOICES if f in explicit})
    data["pretrained"] = cfg.pretrained
    return ModelConfig.model_validate(data)


def start_from_checkpoint(model: Any, source: str) -> Any:
    """Load backbone, pooling and neck of the checkpoint ``source`` into ``model`` (an Embedder); see above."""
    ckpt, base = _checkpoint_config(source)
    mismatch = [f for f in ARCHITECTURE if _dump(model.cfg, f) != _dump(base, f)]
    if mismatch:
        raise WeightsError(
            f"{FLAG} {source} holds another network (model.{mismatch[0]}: {_dump(base, mismatch[0])!r} there, "
            f"{_dump(model.cfg, mismatch[0])!r} here)",
            "build the config with reid.models.pretrained.resolve_model_config (reid train does)",
        )
    state = ckpt["state_dict"]
    own = model.state_dict()
    chosen = {k: v for k, v in state.items() if k.startswith(STARTED_FROM)}
    fc = {k: v for k, v in state.items() if k.startswith("fc.")}
    own_fc = {k: v for k, v in own.items() if k.startswith("fc.")}
    if fc and set(fc) == set(own_fc) and all(fc[k].shape == own_fc[k].shape for k in fc):
        chosen.update(fc)
    try:
        missing, unexpected = model.load_state_dict(chosen, strict=False)
    except RuntimeError as exc:
        raise WeightsError(f"{FLAG} {source}: weights do not fit ({str(exc).splitlines()[0]})") from exc
    lacking = [k for k in missing if k.startswith(STARTED_FROM)]
    if lacking or unexpected:
        raise WeightsError(
            f"{FLAG} {source}: weights do not fit the network "
            f"({len(lacking)} missing, {len(unexpected)} unexpected, e.g. {(lacking or list(unexpected))[0]})"
        )
    return model
