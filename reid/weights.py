"""The one place where weight files come from the internet, and where detector weights are checked.

Constructors never download. Commands that need pretrained weights (the Ultralytics detector, torchvision's
ImageNet backbones) ask this module, which finds a local copy or downloads it, and offline fails with a
message naming the file and the flag that points at a local copy.

Ultralytics unpickles its checkpoints with ``weights_only=False`` (they hold the network as objects), so a
``.pt`` given to ``--det-weights`` could run any code it names. :func:`load_yolo` first simulates the file's
pickle (:mod:`reid.torchfile`) and lets Ultralytics load it only when it names nothing but the layers, tensors
and metadata of a YOLO checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

from reid.errors import WeightsError

DEFAULT_DETECTOR = "yolo11n.pt"


def ultralytics_weights_dir() -> Path:
    """Folder where Ultralytics keeps downloaded weights (its ``weights_dir`` setting)."""
    try:
        from ultralytics.utils import SETTINGS

        return Path(SETTINGS["weights_dir"])
    except Exception:  # settings unreadable: fall back to the working directory only
        return Path.cwd()


def find_detector_weights(name: str = DEFAULT_DETECTOR) -> Path | None:
    """Return a local copy of detector weights ``name`` (a path, or a file in cwd / the weights dir), if any."""
    candidate = Path(name).expanduser()
    if candidate.is_file():
        return candidate
    if candidate.name == str(name):
        for folder in (Path.cwd(), ultralytics_weights_dir()):
            path = folder / name
            if path.is_file():
                return path
    return None


def resolve_detector_weights(name: str = DEFAULT_DETECTOR, allow_download: bool = True) -> str:
    """Return a local file (or a ``.yaml`` model spec) for detector weights ``name``.

    A ``.yaml`` spec builds the network with random weights (used by tests and benchmarks). A bare release
    name such as ``yolo11n.pt`` that is not on disk is downloaded here, through Ultralytics' release-asset
    download, so that the file is checked (:func:`check_yolo_checkpoint`) before anything unpickles it.
    """
    if str(name).endswith((".yaml", ".yml")):
        return str(name)
    local = find_detector_weights(name)
    if local is not None:
        return str(local)
    path = Path(name).expanduser()
    if path.is_dir():
        raise WeightsError(f"detector weights {name} is a folder, not a weights file", "check --det-weights")
    if path.parent != Path(".") or not allow_download or not _is_release_name(str(name)):
        raise WeightsError(f"detector weights {name} do not exist", "point --det-weights at a local .pt file")
    return _download_release(str(name))


def _is_release_name(name: str) -> bool:
    """Whether Ultralytics knows ``name`` as a downloadable release asset (``yolo11n.pt``, ...)."""
    try:
        from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES
    except ImportError:  # an Ultralytics without the list: let the download decide
        return name.endswith(".pt")
    return name in GITHUB_ASSETS_NAMES


def _download_release(name: str) -> str:
    """Download release asset ``name`` (the one place detector weights come from the internet)."""
    try:
        from ultralytics.utils.downloads import attempt_download_asset

        file = Path(attempt_download_asset(name))
    except Exception as exc:  # Ultralytics raises several types for a failed download
        file = None
        cause = type(exc).__name__
    else:
        cause = "no file arrived"
    if file is None or not file.is_file():
        raise WeightsError(
            f"detector weights {name} are not on this machine and could not be downloaded ({cause})",
            "download them once with internet, or point --det-weights at a local .pt file",
        )
    return str(file)


# ------------------------------------------------------------------------------------------ YOLO checkpoints

# What an Ultralytics checkpoint's pickle may call: tensor and parameter rebuilding, containers, the NumPy
# scalars and dtypes of training metadata, paths in train_args.
YOLO_CALLS = frozenset({
    "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
    "torch.Size", "torch.device", "collections.OrderedDict", "builtins.set", "builtins.frozenset",
    "builtins.slice", "_codecs.encode", "numpy.dtype", "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar", "pathlib.PosixPath", "pathlib.Path",
})
# old module paths Ultralytics itself maps when it loads a checkpoint (``torch_safe_load``'s temporary_modules)
YOLO_ALIASES = {
    "ultralytics.yolo.utils.IterableSimpleNamespace": "ultralytics.utils.IterableSimpleNamespace",
    "ultralytics.nn.modules.block.Silence": "torch.nn.modules.linear.Identity",
    "ultralytics.nn.tasks.YOLOv10DetectionModel": "ultralytics.nn.tasks.DetectionModel",
    "ultralytics.utils.loss.v10DetectLoss": "ultralytics.utils.loss.E2EDetectLoss",
    "pathlib.WindowsPath": "pathlib.PosixPath",
}
_LAYER_MODULES = ("torch.nn.modules.", "ultralytics.nn.modules.")
_PLAIN_CLASS_MODULES = ("ultralytics.utils.loss", "ultralytics.utils.tal")


def _defined_class(module: str, name: str):
    """The class ``module.name`` if that module is already imported and defines it, else None.

    Nothing is imported on a file's say-so: importing some Ultralytics modules installs packages (``text_model``
    pip-installs CLIP), so only what importing ``ultralytics.nn.tasks`` loaded counts.
    """
    import sys

    obj = getattr(sys.modules.get(module), name, None)
    return obj if isinstance(obj, type) and obj.__module__ == module else None


def _yolo_new(module: str, name: str) -> bool:
    """Classes a YOLO checkpoint instantiates: its layers, its metadata namespace, old training-loss objects."""
    if f"{module}.{name}" == "ultralytics.utils.IterableSimpleNamespace":
        return True
    if module.startswith(_LAYER_MODULES) or module == "ultralytics.nn.tasks":
        import torch

        cls = _defined_class(module, name)
        return cls is not None and issubclass(cls, torch.nn.Module)
    return module in _PLAIN_CLASS_MODULES and _defined_class(module, name) is not None


def _yolo_value(module: str, name: str) -> bool:
    """Globals that appear as plain values: dtypes and storage types."""
    if module != "torch":
        return False
    import torch

    obj = getattr(torch, name, None)
    return isinstance(obj, torch.dtype) or (
        isinstance(obj, type) and name.endswith("Storage")
        and issubclass(obj, torch.storage.TypedStorage | torch.storage.UntypedStorage)
    )


def _yolo_call(module: str, name: str) -> bool:
    return f"{module}.{name}" in YOLO_CALLS


def yolo_allowed():
    """The :class:`reid.torchfile.Allowed` globals of an Ultralytics checkpoint."""
    from reid.torchfile import Allowed

    return Allowed(call=_yolo_call, new=_yolo_new, value=_yolo_value, aliases=YOLO_ALIASES)


def is_plain_data(qualname: str) -> bool:
    """Whether a global a pickle names is data (tensor rebuilding, containers, dtypes), not code."""
    module, _, name = qualname.rpartition(".")
    return _yolo_call(module, name) or _yolo_value(module, name)


def check_yolo_checkpoint(path: str | Path) -> None:
    """Refuse a detector ``.pt`` that is not a plain Ultralytics checkpoint, before anything unpickles it.

    The file's pickle is simulated (:mod:`reid.torchfile`): it may only build the network's layers (classes of
    ``torch.nn.modules`` and ``ultralytics.nn.modules``/``tasks``, created without calling their constructors),
    rebuild tensors and hold
    metadata. Anything else (a function call such as ``os.system``, any other class) is code, and the file is
    refused with the real cause: empty, damaged, foreign (not a YOLO checkpoint) or unsafe.
    """
    import ultralytics.nn.tasks  # noqa: F401  # the layer modules a checkpoint may name, imported by Ultralytics itself

    from reid.torchfile import Obj, TorchFileError, inspect_file

    path = Path(path)
    try:
        scan = inspect_file(path, yolo_allowed())
    except TorchFileError as exc:
        raise WeightsError(f"detector weights {path} {exc.detail}", _YOLO_HINTS[exc.kind]) from None
    root = scan.root
    model = None
    if isinstance(root, dict):
        model = root.get("ema") if isinstance(root.get("ema"), Obj) else root.get("model")
    if not isinstance(model, Obj) or not _is_detection_model(model.ref.module, model.ref.name):
        what = model.ref.name if isinstance(model, Obj) else "no network"
        raise WeightsError(f"detector weights {path} are not an Ultralytics detection checkpoint ({what})",
                           _YOLO_HINTS["foreign"])


def _is_detection_model(module: str, name: str) -> bool:
    cls = _defined_class(module, name) if module == "ultralytics.nn.tasks" else None
    if cls is None:
        return False
    from ultralytics.nn.tasks import DetectionModel

    return issubclass(cls, DetectionModel)


_YOLO_HINTS = {
    "empty": "the file is empty: download or copy it again, or point --det-weights at another .pt file",
    "damaged": "download or copy the file again, or point --det-weights at another .pt file",
    "foreign": "--det-weights takes an Ultralytics YOLO detection .pt file or a model .yaml",
    "unsafe": "refused without running it; only use detector weights from a source you trust",
}


# ------------------------------------------------------------------------------------------ model YAMLs

# The names a model YAML's layer arguments may use for the YAML's own values: Ultralytics' parser replaces an
# argument that is the name of one of its local variables by that variable, and its configs use these two.
YAML_ARG_NAMES = frozenset({"nc", "kpt_shape"})
_YAML_HINT = ("a model YAML names layers of torch.nn (nn.Upsample) or ultralytics.nn.modules (Conv, C3k2, "
              "Detect) with plain arguments: numbers, words, lists, null/true/false")


def check_model_yaml(path: Path) -> None:
    """Refuse a model ``.yaml`` that would run code when Ultralytics builds it (see :func:`check_model_spec`).

    It is read as Ultralytics reads it, with duplicate keys refused too: a second ``backbone:`` would
    otherwise decide what is built without showing in the first one.
    """
    import yaml

    from reid.config import DuplicateKeyError, load_yaml_text, yaml_problem

    try:
        spec = load_yaml_text(path.read_text(encoding="utf-8"))
    except DuplicateKeyError as exc:
        raise WeightsError(f"detector model spec {path} {yaml_problem(exc)}", "keep one of the two") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise WeightsError(f"detector model spec {path} is not readable YAML ({type(exc).__name__})",
                           "check --det-weights") from None
    check_model_spec(spec, str(path))


def check_model_spec(spec: object, where: str) -> None:
    """Refuse a model spec (the dict Ultralytics' ``parse_model`` builds from) whose building would run code.

    ``parse_model`` looks a row's layer name up in the globals of ``ultralytics.nn.tasks``, which hold
    functions as well as layers (``torch_load`` unpickles a file, ``check_requirements`` runs pip,
    ``check_file`` downloads), and calls it with the row's arguments; it replaces a string argument by one of
    its own variables or by the Python literal the string spells; and it evaluates ``activation`` as Python.
    So a layer must be an ``nn.Module`` class of ``torch.nn`` or ``ultralytics.nn.modules``, every argument a
    plain value that the parser keeps as it is (or ``nc``/``kpt_shape``), and ``activation`` a ``nn.<Layer>(...)``
    call with literal arguments. Nothing is built or imported on the spec's say-so.
    """
    if not isinstance(spec, dict) or not {"backbone", "head"} <= set(spec):
        raise WeightsError(f"detector model spec {where} is not an Ultralytics model YAML (no backbone/head)",
                           "check --det-weights")
    _check_activation(spec.get("activation"), where)
    rows = []
    for section in ("backbone", "head"):
        if not isinstance(spec[section], list):
            raise WeightsError(f"detector model spec {where}: {section} is not a list of layers", _YAML_HINT)
        rows += [(section, j, row) for j, row in enumerate(spec[section])]
    names = _parser_variables()
    for i, (section, j, row) in enumerate(rows):
        where_row = f"detector model spec {where}: layer {i} ({section} row {j})"
        if not (isinstance(row, list) and len(row) == 4):
            raise WeightsError(f"{where_row} is not [from, repeats, module, args]", _YAML_HINT)
        origin, repeats, module, args = row
        if not (_is_int(origin) or (isinstance(origin, list) and origin and all(map(_is_int, origin)))):
            raise WeightsError(f"{where_row}: 'from' {origin!r} is not a layer index or a list of them", _YAML_HINT)
        if not _is_int(repeats):
            raise WeightsError(f"{where_row}: repeats {repeats!r} is not a whole number", _YAML_HINT)
        legacy_identity = i == 0 and module == "Silence"  # Ultralytics maps it to nn.Identity before parsing
        if not isinstance(module, str) or not (legacy_identity or _is_yaml_layer(module)):
            raise WeightsError(f"{where_row} names {module!r}, which is not a layer of torch.nn or "
                               "ultralytics.nn.modules; refused without building anything", _YAML_HINT)
        if not isinstance(args, list):
            raise WeightsError(f"{where_row} ({module}): its arguments are not a list", _YAML_HINT)
        for arg in args:
            problem = _yaml_arg_problem(arg, names)
            if problem:
                raise WeightsError(f"{where_row} ({module}): argument {arg!r} {problem}", _YAML_HINT)


def _check_activation(act: object, where: str) -> None:
    """``activation`` is evaluated as Python: allow only ``nn.<Layer>(literal arguments)``, the form its own
    configs use."""
    import ast

    if act is None:
        return
    ok = False
    try:
        call = ast.parse(str(act).strip(), mode="eval").body
        func = call.func if isinstance(call, ast.Call) else None
        ok = (isinstance(func, ast.Attribute) and _dotted(func.value) in ("nn", "torch.nn")
              and _is_torch_layer(func.attr)
              and all(_is_literal(a) for a in [*call.args, *(k.value for k in call.keywords)]))
    except SyntaxError:
        ok = False
    if not ok:
        raise WeightsError(f"detector model spec {where} sets activation to {act!r}, which would run as code",
                           "use a torch.nn layer such as nn.SiLU() or nn.LeakyReLU(0.1)")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_yaml_layer(name: str) -> bool:
    """Whether ``parse_model`` resolves ``name`` to an ``nn.Module`` class of torch.nn or ultralytics.nn.modules
    (``nn.X`` from ``torch.nn``, a bare name from the globals of ``ultralytics.nn.tasks``)."""
    import torch

    if name.startswith("nn."):
        cls, home = getattr(torch.nn, name[3:], None), "torch.nn."
    else:
        import ultralytics.nn.tasks as tasks

        cls, home = vars(tasks).get(name), "ultralytics.nn.modules."
    return (isinstance(cls, type) and issubclass(cls, torch.nn.Module)
            and str(getattr(cls, "__module__", "")).startswith(home))


def _parser_variables() -> frozenset[str]:
    """Names a string argument must not be: the local variables of the installed ``parse_model``, which it
    would substitute (the YAML's ``nc``/``kpt_shape`` excepted)."""
    from ultralytics.nn.tasks import parse_model

    code = parse_model.__code__
    return frozenset(code.co_varnames + code.co_cellvars + code.co_freevars) - YAML_ARG_NAMES


def _yaml_arg_problem(arg: object, parser_names: frozenset[str], top: bool = True) -> str | None:
    """Why a layer argument is not a plain value that reaches the layer as written, or None.

    ``parse_model`` hands a top-level string argument to ``ast.literal_eval`` (or swaps it for one of its own
    variables), so only two kinds of string are plain: a word (``nearest``, ``DEFAULT``, and ``None``/``True``,
    which its configs write for the constants), and a number YAML left as text (``1e-3``). Anything else in
    quotes is Python source the parser would evaluate (a list, a string) or that only looks like code.
    """
    import ast

    if arg is None or isinstance(arg, int | float):  # bool is an int
        return None
    if isinstance(arg, list):
        return next((p for a in arg if (p := _yaml_arg_problem(a, parser_names, top=False))), None)
    if not isinstance(arg, str):
        return f"is a {type(arg).__name__}, not a number, word, list or null"
    if not top or arg in YAML_ARG_NAMES:  # parse_model leaves strings inside lists alone
        return None
    if arg.isidentifier() and arg.isascii():
        if arg in parser_names:
            return "names a variable of Ultralytics' model parser, which would replace it"
        return None  # a word the parser keeps as text, or None/True/False, which it reads as those constants
    try:
        value = ast.literal_eval(arg) if len(arg) <= 32 else None
    except Exception:  # SyntaxError, ValueError for a call or a name, RecursionError for deep nesting
        value = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None
    if value is None:
        return "is a Python expression in quotes, which Ultralytics' model parser would try to evaluate"
    return "is a Python literal in quotes, which Ultralytics' model parser would evaluate; write it as plain YAML"


def _is_torch_layer(name: str) -> bool:
    import torch

    cls = getattr(torch.nn, name, None)
    return isinstance(cls, type) and issubclass(cls, torch.nn.Module)


def _dotted(node) -> str:
    import ast

    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _is_literal(node) -> bool:
    import ast

    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def check_model_yaml_source(name: str) -> None:
    """Check the model YAML ``name`` as Ultralytics will find and read it, before it builds anything.

    A local file is read by :func:`check_model_yaml`; then the spec Ultralytics itself loads for ``name``
    (a local file, or one of its shipped configs such as ``yolo11n.yaml`` -> ``cfg/models/11/yolo11.yaml``) is
    checked too, so that its own name lookups cannot lead to another file. A URL is refused: it would be
    downloaded.
    """
    path = Path(name).expanduser()
    if "://" in name:
        raise WeightsError(f"detector model spec {name} is a URL; it would be downloaded and built unchecked",
                           "download it yourself, check it, and pass the local file to --det-weights")
    if path.is_file():
        check_model_yaml(path)
    elif path.exists():
        raise WeightsError(f"detector model spec {name} is not a regular file", "check --det-weights")
    from ultralytics.nn.tasks import yaml_model_load

    try:
        spec = yaml_model_load(str(path) if path.is_file() else name)
    except (OSError, ValueError, AssertionError) as exc:  # FileNotFoundError for a name it cannot find
        raise WeightsError(f"detector model spec {name} does not exist, here or among Ultralytics' model configs "
                           f"({type(exc).__name__})", "check --det-weights") from None
    check_model_spec(spec, name)


def checked_detector_source(name: str = DEFAULT_DETECTOR) -> str:
    """Resolve detector weights ``name`` and check that loading them runs no code, without building anything.

    Returns what Ultralytics should be given: the model ``.yaml`` name (checked by
    :func:`check_model_yaml_source`) or the absolute path of a ``.pt`` file (checked by
    :func:`check_yolo_checkpoint`); an absolute path, so that Ultralytics never takes it for a cached release
    asset to delete and fetch again. Commands call it before they write anything, so that a refused file
    leaves no output behind.
    """
    source = resolve_detector_weights(name)
    if source.endswith((".yaml", ".yml")):
        check_model_yaml_source(source)
        return source
    path = Path(source).resolve()
    check_yolo_checkpoint(path)
    return str(path)


def load_yolo(name: str = DEFAULT_DETECTOR):
    """Build ``ultralytics.YOLO`` from ``name`` after :func:`checked_detector_source` has checked it.

    Every failure is a :class:`WeightsError` naming its cause.
    """
    source = checked_detector_source(name)
    if source.endswith((".yaml", ".yml")):
        return _build_yolo(source, f"cannot build detector from {source}")
    return _build_yolo(source, f"detector weights {source} passed the safety check but Ultralytics cannot load them")


def _build_yolo(source: str, failure: str):
    from ultralytics import YOLO

    from reid.torchfile import first_line

    try:
        return YOLO(source)
    except Exception as exc:  # Ultralytics raises several types (TypeError, KeyError, RuntimeError...)
        raise WeightsError(f"{failure}: {first_line(exc)}", "check --det-weights") from exc


def torch_hub_checkpoint_dir() -> Path:
    """Folder where torchvision caches ImageNet weights (``$TORCH_HOME/hub/checkpoints``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def imagenet_weights_enum(arch: str):
    """torchvision's default weights enum member for ``arch`` (e.g. ``ResNet50_Weights.DEFAULT``)."""
    from torchvision.models import get_model_weights

    try:
        return get_model_weights(arch).DEFAULT
    except (ValueError, KeyError) as exc:
        raise WeightsError(f"torchvision has no ImageNet weights for {arch!r}") from exc


def imagenet_weights_file(arch: str) -> Path:
    """Where torchvision stores (or would store) the ImageNet weights of ``arch``."""
    url = imagenet_weights_enum(arch).url
    return torch_hub_checkpoint_dir() / os.path.basename(url)


def load_imagenet_state_dict(arch: str, local_file: str | None = None, flag: str = "model.pretrained") -> dict:
    """State dict of torchvision's ImageNet weights for ``arch``: from ``local_file``, the cache, or a download.

    Offline without a cached copy, a :class:`WeightsError` names the file and how to avoid the download.
    """
    import torch

    if local_file:
        path = Path(local_file).expanduser()
        if not path.is_file():
            raise WeightsError(f"ImageNet weights file {path} does not exist", f"check {flag}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise WeightsError(f"{path} is not a readable PyTorch weights file: {exc}") from exc
        return state.get("state_dict", state) if isinstance(state, dict) else state
    weights = imagenet_weights_enum(arch)
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:
        raise WeightsError(
            f"ImageNet weights for {arch} ({imagenet_weights_file(arch).name}) are not cached and could not be "
            f"downloaded ({type(exc).__name__})",
            f"put the file in {torch_hub_checkpoint_dir()}, set {flag} to a local .pth file, or use 'none'",
        ) from exc
