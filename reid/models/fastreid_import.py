"""Convert a fast-reid checkpoint into a reid checkpoint (``reid weights import fastreid``).

fast-reid writes ``{"model": state_dict, ...}``. Its ``Baseline`` network is a ResNet backbone (``backbone.*``)
and an ``EmbeddingHead`` (``heads.*``): pooling (``heads.pool_layer``, with ``p`` when GeM learns it), the
BNNeck (``heads.bottleneck.0``) and a classifier over the training identities (``heads.weight`` in fast-reid
1.x, ``heads.classifier.*`` before), plus, in files of some versions, the normalisation it applies
(``pixel_mean``/``pixel_std``, on the 0-255 scale). At test time it embeds with the BNNeck output.

The architecture is read from the keys and the shapes (depth, IBN, non-local blocks and their width, GeM's
learned ``p``, BNNeck); what the keys cannot tell (last stride, a fixed-exponent GeM versus average pooling,
the test size) comes from the fast-reid YAML when one is given, else from fast-reid's defaults for vehicle
models. Every key of the file is accounted for: copied into the network, used as preprocessing, or listed as
ignored with the reason; a key the network needs that the file lacks, or one this importer does not know,
is an error that names it. The file is read with ``torch.load(weights_only=True)``: a pickle with code is
refused, never run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reid.errors import ConfigError, OutputError, WeightsError
from reid.models.config import IMAGENET_MEAN, IMAGENET_STD, ModelConfig

FLAG = "FILE"
POOLINGS = ("auto", "avg", "gem")
# fast-reid's POOL_LAYER names (1.x and the lower-case names before) -> (pooling, learned p).
POOL_LAYERS: dict[str, tuple[str, bool]] = {
    "GlobalAvgPool": ("avg", False),
    "FastGlobalAvgPool": ("avg", False),
    "avgpool": ("avg", False),
    "fastavgpool": ("avg", False),
    "GeneralizedMeanPooling": ("gem", False),
    "gempool": ("gem", False),
    "GeneralizedMeanPoolingP": ("gem", True),
    "gempoolP": ("gem", True),
}
CLASSIFIER_PREFIXES = ("heads.weight", "heads.classifier.", "heads.cls_layer.")
NECK_PREFIXES = ("heads.bottleneck.0.", "heads.bnneck.")  # fast-reid >= 0.2, and its first BNneckHead
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
DEPTHS = {"50x": "fastreid_resnet50", "101x": "fastreid_resnet101"}
NORMS = ("BN", "syncBN", "SyncBN", "GhostBN")  # all the same plain BatchNorm at test time
FASTREID_GEM_P = 3.0  # fast-reid builds GeneralizedMeanPooling(norm=3)


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote and how it read the file; ``notes`` are the decisions it took, in words."""

    out: Path
    model_config: ModelConfig
    used: int
    ignored: dict[str, str]
    notes: list[str]
    source_sha256: str
    identity: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Converted:
    cfg: ModelConfig
    model: Any  # the reid Embedder with the file's weights, in eval mode
    used: int
    ignored: dict[str, str]
    notes: list[str]


def import_fastreid(
    source: str | Path,
    out: str | Path,
    config: str | Path | None = None,
    pooling: str = "auto",
    overwrite: bool = False,
) -> ImportResult:
    """Convert the fast-reid checkpoint ``source`` into a reid checkpoint at ``out`` (written atomically)."""
    from reid import __version__
    from reid.models.checkpoint import checkpoint_identity, make_checkpoint, save_checkpoint

    source, out = Path(source).expanduser(), Path(out).expanduser()
    if pooling not in POOLINGS:
        raise ConfigError(f"unknown pooling {pooling!r}", f"valid: {', '.join(POOLINGS)} (--pooling)")
    _check_out(source, out, overwrite)
    settings = read_fastreid_yaml(config) if config is not None else {}  # a small file: checked first
    state = read_fastreid_state(source)
    converted = convert_state(state, settings, pooling)
    digest = _sha256(source)
    meta = {
        "origin": {
            "kind": "fastreid",
            "source": str(source.resolve()),
            "source_sha256": digest,
            "config": str(Path(config).resolve()) if config is not None else None,
            "used_keys": converted.used,
            "ignored_keys": converted.ignored,
            "notes": converted.notes,
            "reid_version": __version__,
        }
    }
    ckpt = make_checkpoint(converted.model, converted.cfg, meta=meta)
    try:
        save_checkpoint(out, ckpt)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}", "choose another --out") from exc
    return ImportResult(
        out=out,
        model_config=converted.cfg,
        used=converted.used,
        ignored=converted.ignored,
        notes=converted.notes,
        source_sha256=digest,
        identity=checkpoint_identity(ckpt),
        meta=meta,
    )


def _check_out(source: Path, out: Path, overwrite: bool) -> None:
    """Never write over the input, a folder, or a file reid did not write."""
    from reid.models.checkpoint import load_checkpoint

    if out.is_dir():
        raise OutputError(f"--out {out} is a folder", "pass a file name such as model.pt")
    if source.exists() and out.exists() and out.resolve() == source.resolve():
        raise OutputError(f"--out {out} is the input file", "write the reid checkpoint to another file")
    if out.exists():
        if not overwrite:
            raise OutputError(
                f"{out} already exists", "pass --overwrite to replace it, or choose another --out"
            )
        try:
            load_checkpoint(out, flag="--out")
        except WeightsError as exc:
            raise OutputError(
                f"{out} exists and is not a reid checkpoint; it is not replaced", "choose another --out"
            ) from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_fastreid_state(path: str | Path) -> dict[str, Any]:
    """The state dict inside a fast-reid checkpoint (``torch.load(path, weights_only=True)["model"]``)."""
    import torch

    from reid.models.checkpoint import FORMAT, safe_torch_load

    path = Path(path).expanduser()
    hint = "pass the .pth file fast-reid's training wrote (its 'model' entry holds the network)"
    data = safe_torch_load(path, FLAG, what="fast-reid checkpoint we can read safely", hint=hint)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        raise WeightsError(f"{path} is already a reid checkpoint", "use it directly with --weights")
    if not isinstance(data, Mapping) or "model" not in data:
        what = (
            f"a dict with keys {_examples(list(data))}" if isinstance(data, Mapping) else type(data).__name__
        )
        raise WeightsError(
            f"{path} is not a fast-reid checkpoint: it has no 'model' entry (it holds {what})", hint
        )
    model = data["model"]
    if not isinstance(model, Mapping) or not model:
        raise WeightsError(
            f"{path} is not a fast-reid checkpoint: its 'model' entry is not a state dict", hint
        )
    state: dict[str, Any] = {}
    for key, value in model.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise WeightsError(f"{path}: model entry {key!r} is not a tensor", hint)
        name = key[len("module.") :] if key.startswith("module.") else key  # saved from DataParallel
        state[name] = value
    return state


# Every key the importer reads from a fast-reid YAML: the kind of value it must hold, and an example of one.
SETTINGS: dict[str, tuple[str, str]] = {
    "MODEL.META_ARCHITECTURE": ("name", "Baseline"),
    "MODEL.BACKBONE.NAME": ("name", "build_resnet_backbone"),
    "MODEL.BACKBONE.NORM": ("name", "BN"),
    "MODEL.BACKBONE.DEPTH": ("name", "50x"),
    "MODEL.BACKBONE.LAST_STRIDE": ("whole number", "1"),
    "MODEL.BACKBONE.WITH_IBN": ("flag", "true"),
    "MODEL.BACKBONE.WITH_NL": ("flag", "false"),
    "MODEL.BACKBONE.WITH_SE": ("flag", "false"),
    "MODEL.HEADS.NAME": ("name", "EmbeddingHead"),
    "MODEL.HEADS.POOL_LAYER": ("name", "GeneralizedMeanPoolingP"),
    "MODEL.HEADS.WITH_BNNECK": ("flag", "true"),
    "MODEL.HEADS.EMBEDDING_DIM": ("whole number", "0"),
    "MODEL.PIXEL_MEAN": ("list of three numbers", "[123.675, 116.28, 103.53]"),
    "MODEL.PIXEL_STD": ("list of three numbers", "[58.395, 57.12, 57.375]"),
    "INPUT.SIZE_TEST": ("list of two whole numbers", "[256, 256]"),
    "INPUT.CROP.ENABLED": ("flag", "false"),
}
_SECTIONS = {key.rsplit(".", n)[0] for key in SETTINGS for n in (1, 2) if key.count(".") >= n}


def read_fastreid_yaml(path: str | Path) -> dict[str, Any]:
    """A fast-reid YAML (with its ``_BASE_`` chain) flattened to dotted keys: ``{"MODEL.BACKBONE.DEPTH": "50x"}``.

    Every key the importer reads (:data:`SETTINGS`) is checked for the kind of value it holds, so that a list
    where a name belongs is one line naming the key and the file that set it, not a traceback later on.
    """
    values, origins = _read_chain(Path(path).expanduser(), 0)
    for key, value in values.items():
        if key in _SECTIONS:  # e.g. MODEL.HEADS: [..]: the keys below it would be silently missing
            raise ConfigError(f"fast-reid config {origins[key]}: {key} must be a mapping of settings, "
                              f"not {_describe(value)}", "check --config")
        if key in SETTINGS and not _is_kind(value, SETTINGS[key][0]):
            kind, example = SETTINGS[key]
            raise ConfigError(f"fast-reid config {origins[key]}: {key} must be a {kind} such as {example}, "
                              f"not {_describe(value)}", "check --config")
    return values


def _read_chain(path: Path, depth: int) -> tuple[dict[str, Any], dict[str, Path]]:
    """(flattened values, the file each came from) of ``path`` over its ``_BASE_`` chain."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"fast-reid config {path} does not exist", "check --config")
    if depth > 10:
        raise ConfigError(f"fast-reid config {path}: _BASE_ files nest more than 10 deep (a loop?)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"fast-reid config {path} is not valid YAML ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"fast-reid config {path} is not a YAML mapping")
    values: dict[str, Any] = {}
    origins: dict[str, Path] = {}
    base = data.pop("_BASE_", None)
    if base is not None:
        if not isinstance(base, str) or not base.strip():
            raise ConfigError(f"fast-reid config {path}: _BASE_ must be the name of a YAML file such as "
                              f"../Base-bagtricks.yml, not {_describe(base)}", "check --config")
        base_path = Path(base) if Path(base).is_absolute() else path.parent / base
        if not base_path.is_file():
            raise ConfigError(
                f"fast-reid config {path} names _BASE_ {base}, which is not at {base_path}",
                "put the base YAML beside it (as in fast-reid's configs/ folder), or leave --config out",
            )
        values, origins = _read_chain(base_path, depth + 1)
    own = _flatten(data)
    values.update(own)
    origins.update(dict.fromkeys(own, path))
    return values, origins


def _is_number(value: object, whole: bool = False) -> bool:
    return isinstance(value, int if whole else int | float) and not isinstance(value, bool)


def _is_kind(value: object, kind: str) -> bool:
    if kind == "name":
        return isinstance(value, str) and bool(value.strip())
    if kind == "flag":
        return isinstance(value, bool)
    if kind == "whole number":
        return _is_number(value, whole=True)
    count, whole = (2, True) if kind == "list of two whole numbers" else (3, False)
    return isinstance(value, list) and len(value) == count and all(_is_number(v, whole) for v in value)


def _describe(value: object) -> str:
    """How a YAML value reads in a message: ``a list``, ``null``, ``the number 3``, ``the text 'x'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a flag)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and name not in SETTINGS:  # a setting given as a mapping stays one value
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _examples(keys: list[str], n: int = 4) -> str:
    shown = ", ".join(str(k) for k in keys[:n])
    return shown + (f" and {len(keys) - n} more" if len(keys) > n else "")


def _unsupported(what: str, keys: list[str]) -> WeightsError:
    return WeightsError(
        f"this fast-reid network is not one reid builds: {what} (keys {_examples(sorted(keys))})",
        "reid imports fast-reid's Baseline with a ResNet-50/101 backbone (IBN-a, non-local optional), "
        "GeM or average pooling and a BNNeck",
    )


def convert_state(state: Mapping[str, Any], settings: Mapping[str, Any], pooling: str = "auto") -> _Converted:
    """fast-reid state dict (+ flattened YAML settings) -> the reid model config and the network with its weights."""
    from reid.models.embedder import Embedder

    notes: list[str] = []
    keys = set(state)
    _check_meta_arch(keys, settings)
    arch, blocks = _resnet_depth(keys, settings)
    ibn = "backbone.layer1.0.bn1.IN.weight" in keys
    _agree(settings, "MODEL.BACKBONE.WITH_IBN", ibn, "IBN-a blocks", "backbone.layer1.0.bn1.IN.weight")
    non_local, nl_channels = _non_local(state, blocks)
    _agree(settings, "MODEL.BACKBONE.WITH_NL", any(non_local), "non-local blocks", "backbone.NL_*")
    neck_prefix = _neck(state, settings)
    pool, gem_learn, gem_p = _pooling(state, settings, pooling, notes)
    size, mean, std = _preprocessing(state, settings, notes)
    last_stride = int(settings.get("MODEL.BACKBONE.LAST_STRIDE", 1))
    if last_stride not in (1, 2):
        raise ConfigError(f"MODEL.BACKBONE.LAST_STRIDE {last_stride} is not 1 or 2")
    cfg = ModelConfig(
        arch=arch,
        pretrained="none",
        ibn=ibn,
        non_local=non_local,
        non_local_channels=nl_channels,
        last_stride=last_stride,
        pooling=pool,
        gem_p=gem_p,
        gem_learn_p=gem_learn,
        embedding_dim=None,
        bnneck=neck_prefix is not None,
        input_size=size,
        mean=mean,
        std=std,
        interpolation="bicubic",
    )
    mapping = {k: k for k in keys if k.startswith("backbone.")}
    if pool == "gem" and gem_learn:
        mapping["pool.p"] = "heads.pool_layer.p"
    if neck_prefix is not None:
        mapping.update({f"neck.{name}": neck_prefix + name for name in BN_KEYS})
    why = "classifier over the training identities (not used to embed)"
    ignored = {k: why for k in sorted(keys) if k.startswith(CLASSIFIER_PREFIXES)}
    preprocessing = {k for k in ("pixel_mean", "pixel_std") if k in keys}  # used: they became mean and std
    model = Embedder(cfg, load_pretrained=False)
    converted, used = _fill(model.state_dict(), mapping, state, keys - set(ignored) - preprocessing, gem_p)
    model.load_state_dict(converted, strict=True)
    notes.insert(0, f"architecture: {cfg.summary()}")
    return _Converted(cfg, model.eval(), len(used) + len(preprocessing), ignored, notes)


def _fill(
    ours: Mapping[str, Any],
    mapping: Mapping[str, str],
    state: Mapping[str, Any],
    expected: set[str],
    gem_p: float,
) -> tuple[dict[str, Any], set[str]]:
    """Copy each of our tensors from its fast-reid key; a missing, extra or misshapen key is an error."""
    import torch

    out: dict[str, Any] = {}
    used: set[str] = set()
    missing: list[str] = []
    for name, target in ours.items():
        if name == "pool.p" and name not in mapping:  # a fixed exponent is not stored by fast-reid
            out[name] = torch.tensor(gem_p)
            continue
        theirs = mapping.get(name)
        if theirs is None or theirs not in state:
            missing.append(theirs or name)
            continue
        value = state[theirs]
        if value.numel() != target.numel() or (value.ndim > 1 and tuple(value.shape) != tuple(target.shape)):
            raise WeightsError(
                f"fast-reid key {theirs} has shape {tuple(value.shape)}; the network it describes needs "
                f"{tuple(target.shape)}"
            )
        out[name] = value.detach().reshape(target.shape).to(target.dtype).clone()
        used.add(theirs)
    if missing:
        raise WeightsError(
            f"the fast-reid file lacks {len(missing)} keys its network needs: {_examples(sorted(missing))}",
            "the file is incomplete or from a network reid does not build",
        )
    unknown = sorted(expected - used)
    if unknown:
        raise _unsupported(f"{len(unknown)} keys this network has no place for", unknown)
    return out, used


def _check_meta_arch(keys: set[str], settings: Mapping[str, Any]) -> None:
    meta = settings.get("MODEL.META_ARCHITECTURE", "Baseline")
    if meta != "Baseline":
        raise _unsupported(f"MODEL.META_ARCHITECTURE is {meta}", sorted(keys)[:4])
    head = settings.get("MODEL.HEADS.NAME", "EmbeddingHead")
    if head not in ("EmbeddingHead", "BNneckHead"):
        raise _unsupported(f"MODEL.HEADS.NAME is {head}", [k for k in keys if k.startswith("heads.")])
    outside = sorted(
        k for k in keys if not k.startswith(("backbone.", "heads.")) and k not in ("pixel_mean", "pixel_std")
    )
    if not any(k.startswith("backbone.") for k in keys) or not any(k.startswith("heads.") for k in keys):
        raise WeightsError(
            f"not a fast-reid Baseline network: its 'model' state has no backbone.* and heads.* keys "
            f"(keys {_examples(sorted(keys))})",
            "pass a checkpoint written by fast-reid's training",
        )
    if outside:
        raise _unsupported("parts outside backbone and heads (another meta-architecture, e.g. MGN)", outside)
    name = settings.get("MODEL.BACKBONE.NAME", "build_resnet_backbone")
    if name != "build_resnet_backbone":
        raise _unsupported(f"MODEL.BACKBONE.NAME is {name}", [k for k in keys if k.startswith("backbone.")])
    norm = settings.get("MODEL.BACKBONE.NORM", "BN")
    if norm not in NORMS:
        raise _unsupported(f"MODEL.BACKBONE.NORM is {norm}", ["backbone.bn1.weight"])
    if settings.get("MODEL.BACKBONE.WITH_SE", False) or any(".se." in k for k in keys):
        raise _unsupported(
            "squeeze-excitation blocks", [k for k in keys if ".se." in k] or ["MODEL.BACKBONE.WITH_SE"]
        )


def _resnet_depth(keys: set[str], settings: Mapping[str, Any]) -> tuple[str, tuple[int, int, int, int]]:
    from reid.models.ibn_resnet import IBN_RESNETS

    backbone = [k for k in keys if k.startswith("backbone.")]
    if "backbone.conv1.weight" not in keys or not any(k.startswith("backbone.layer4.") for k in keys):
        raise _unsupported("the backbone is not a ResNet", backbone)
    if "backbone.layer1.0.conv3.weight" not in keys:
        raise _unsupported(
            "a basic-block ResNet (18/34 layers)", [k for k in backbone if k.startswith("backbone.layer1.0.")]
        )
    counts = []
    for stage in range(1, 5):
        found = {int(m.group(1)) for k in keys if (m := re.match(rf"backbone\.layer{stage}\.(\d+)\.", k))}
        counts.append(len(found))
    blocks = (counts[0], counts[1], counts[2], counts[3])
    arch = next((name for name, layout in IBN_RESNETS.items() if layout == blocks), None)
    if arch is None:
        raise _unsupported(
            f"a ResNet with {blocks} blocks per stage", [f"backbone.layer3.{blocks[2] - 1}.conv1.weight"]
        )
    depth = settings.get("MODEL.BACKBONE.DEPTH")
    if depth is not None and DEPTHS.get(str(depth)) != arch:
        raise ConfigError(
            f"the fast-reid config says MODEL.BACKBONE.DEPTH {depth}, the file holds {arch}", "check --config"
        )
    return arch, blocks


def _agree(settings: Mapping[str, Any], key: str, found: bool, what: str, example: str) -> None:
    if key in settings and bool(settings[key]) != found:
        has = f"has {what} ({example})" if found else f"has no {what} ({example})"
        raise ConfigError(
            f"the fast-reid config says {key}: {settings[key]}, but the file {has}", "check --config"
        )


def _non_local(
    state: Mapping[str, Any], blocks: tuple[int, ...]
) -> tuple[tuple[int, int, int, int], int | None]:
    counts, widths = [], set()
    for stage in range(1, 5):
        found = {int(m.group(1)) for k in state if (m := re.match(rf"backbone\.NL_{stage}\.(\d+)\.", k))}
        if found and found != set(range(len(found))):
            raise _unsupported(
                f"non-local blocks of stage {stage} numbered {sorted(found)}", [f"backbone.NL_{stage}.*"]
            )
        if len(found) > blocks[stage - 1]:
            raise _unsupported(f"{len(found)} non-local blocks in stage {stage}", [f"backbone.NL_{stage}.*"])
        counts.append(len(found))
        for i in found:
            g = state.get(f"backbone.NL_{stage}.{i}.g.weight")
            if g is None:
                raise WeightsError(f"the fast-reid file lacks backbone.NL_{stage}.{i}.g.weight")
            widths.add(int(g.shape[0]))
    if len(widths) > 1:
        raise _unsupported(
            f"non-local blocks of different widths {sorted(widths)}", ["backbone.NL_*.g.weight"]
        )
    return (counts[0], counts[1], counts[2], counts[3]), (widths.pop() if widths else None)


def _neck(state: Mapping[str, Any], settings: Mapping[str, Any]) -> str | None:
    """The prefix of the BNNeck's keys, or None without one; other head parts are refused by name."""
    conv = state.get("heads.bottleneck.0.weight")
    if conv is not None and conv.ndim == 4:
        raise _unsupported(
            "a 1x1 reduction before the BNNeck (MODEL.HEADS.EMBEDDING_DIM > 0)",
            [k for k in state if k.startswith("heads.bottleneck.")],
        )
    if int(settings.get("MODEL.HEADS.EMBEDDING_DIM", 0) or 0) > 0:
        raise _unsupported("MODEL.HEADS.EMBEDDING_DIM > 0", ["heads.bottleneck.0.weight"])
    prefix = next((p for p in NECK_PREFIXES if f"{p}weight" in state), None)
    known = CLASSIFIER_PREFIXES + NECK_PREFIXES + ("heads.pool_layer.",)
    other = [k for k in state if k.startswith("heads.") and not k.startswith(known)]
    if other:
        raise _unsupported("head parts other than pooling, BNNeck and classifier", other)
    _agree(settings, "MODEL.HEADS.WITH_BNNECK", prefix is not None, "a BNNeck", "heads.bottleneck.0.weight")
    return prefix


def _pooling(
    state: Mapping[str, Any], settings: Mapping[str, Any], flag: str, notes: list[str]
) -> tuple[str, bool, float]:
    """(pooling, learned p, p): from ``heads.pool_layer.p`` when the file stores it, else the YAML or --pooling."""
    extra = [k for k in state if k.startswith("heads.pool_layer.") and k != "heads.pool_layer.p"]
    if extra:
        raise _unsupported("a pooling layer with weights other than GeM's p", extra)
    layer = settings.get("MODEL.HEADS.POOL_LAYER")
    if layer is not None and layer not in POOL_LAYERS:
        raise _unsupported(f"MODEL.HEADS.POOL_LAYER {layer}", ["heads.pool_layer"])
    from_yaml = POOL_LAYERS.get(layer) if layer is not None else None
    p = state.get("heads.pool_layer.p")
    if p is not None:
        if p.numel() != 1:
            raise WeightsError(f"heads.pool_layer.p has {p.numel()} values; GeM has one exponent")
        if flag == "avg" or (from_yaml is not None and from_yaml != ("gem", True)):
            raise ConfigError(
                f"the file has a learned GeM exponent (heads.pool_layer.p) but {'--pooling avg' if flag == 'avg' else f'the config says {layer}'}",
                "leave --pooling at auto, or check --config",
            )
        value = float(p.reshape(()).item())
        notes.append(f"pooling: GeM with the learned p = {value:.4g} from heads.pool_layer.p")
        return "gem", True, value
    if from_yaml == ("gem", True):
        raise WeightsError("the config says GeneralizedMeanPoolingP but the file has no heads.pool_layer.p")
    choice = from_yaml[0] if from_yaml is not None else None
    if flag != "auto":
        if choice is not None and choice != flag:
            raise ConfigError(
                f"--pooling {flag} disagrees with the config's POOL_LAYER {layer}", "drop one of them"
            )
        choice = flag
    if choice is None:
        raise ConfigError(
            "the file does not say how its network pools (no heads.pool_layer.p): average or fixed-exponent GeM",
            "pass --pooling gem (fast-reid's VehicleID and VERI-Wild BoT models) or --pooling avg, or --config "
            "with the fast-reid YAML it was trained with",
        )
    where = f"the config's POOL_LAYER {layer}" if from_yaml is not None else f"--pooling {flag}"
    notes.append(f"pooling: {'GeM with fixed p = 3' if choice == 'gem' else 'average'} (from {where})")
    return choice, False, FASTREID_GEM_P


def _preprocessing(
    state: Mapping[str, Any], settings: Mapping[str, Any], notes: list[str]
) -> tuple[tuple[int, int], tuple[float, float, float], tuple[float, float, float]]:
    """Input size, mean and std (0-1 scale): the file's buffers, else the YAML, else ImageNet at 256x256."""
    size = settings.get("INPUT.SIZE_TEST", [256, 256])
    if not isinstance(size, (list, tuple)) or len(size) != 2 or min(int(v) for v in size) < 16:
        raise _unsupported(
            f"INPUT.SIZE_TEST {size} (reid resizes to a fixed height and width)", ["INPUT.SIZE_TEST"]
        )
    if settings.get("INPUT.CROP.ENABLED", False):
        raise _unsupported("a centre crop at test time (INPUT.CROP.ENABLED)", ["INPUT.CROP.SIZE"])
    stats = []
    for name, default in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)):
        buffer = state.get(f"pixel_{name}")
        yaml_value = settings.get(f"MODEL.PIXEL_{name.upper()}")
        if buffer is not None:
            if buffer.numel() != 3:
                raise WeightsError(f"pixel_{name} has {buffer.numel()} values; expected 3 (RGB)")
            values, source = [float(v) for v in buffer.reshape(-1)], f"the file's pixel_{name}"
        elif yaml_value is not None:
            values, source = [float(v) for v in yaml_value], f"MODEL.PIXEL_{name.upper()}"
        else:
            values, source = [v * 255.0 for v in default], "ImageNet (fast-reid's default)"
        if len(values) != 3 or (name == "std" and min(values) <= 0):
            raise WeightsError(
                f"{source} is not three {'positive ' if name == 'std' else ''}values: {values}"
            )
        stats.append(tuple(v / 255.0 for v in values))
        notes.append(f"{name} (0-255): {', '.join(f'{v:g}' for v in values)} from {source}")
    h, w = int(size[0]), int(size[1])
    notes.append(f"input: RGB {h}x{w}, bicubic resize (fast-reid's test transform)")
    return (h, w), stats[0], stats[1]  # type: ignore[return-value]
