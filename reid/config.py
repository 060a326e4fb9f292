"""Typed configs: a YAML file plus dotted ``--set key=value`` overrides, validated into pydantic objects.

Each stage owns its own small schema (a :class:`ConfigModel` subclass next to the code that uses it), so no
module reads a god-config. This module only knows how to load, override and validate, and keeps one explicit
registry from a YAML file's ``kind:`` to its schema, which lets ``reid`` (and a test) check every file in
``configs/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from reid.errors import ConfigError

T = TypeVar("T", bound="ConfigModel")


class ConfigModel(BaseModel):
    """Base of every config section: unknown keys are errors, and values are re-validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


# kind -> "module:Class". Strings keep `import reid.config` light; each schema is imported only when used.
CONFIG_SCHEMAS: dict[str, str] = {
    "demo": "reid.demo:DemoSettings",
    "embed": "reid.models.config:EmbedConfig",
    "synth": "reid.synth.config:SynthConfig",
    "cameras": "reid.cameras:CamerasConfig",
    "link": "reid.gallery.config:LinkConfig",
    "live": "reid.live.config:LiveConfig",
    "track": "reid.video.config:TrackConfig",
    "tracker": "reid.video.config:TrackerConfig",
    "eval": "reid.evaluation.config:EvalConfig",
    "train": "reid.train.config:TrainConfig",
}


def schema_for_kind(kind: str) -> type[ConfigModel]:
    """Import and return the schema class registered for ``kind``."""
    if kind not in CONFIG_SCHEMAS:
        raise ConfigError(f"unknown config kind {kind!r}", f"valid kinds: {', '.join(sorted(CONFIG_SCHEMAS))}")
    module_name, _, class_name = CONFIG_SCHEMAS[kind].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A YAML mapping names one key twice (PyYAML would silently keep the last value)."""


class UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's safe loader, refusing a mapping that names a key twice.

    PyYAML keeps the last of two equal keys without a word, so a config whose second ``threshold:`` overrides
    the first one looks right and runs with the other value. Keys merged in with ``<<:`` may be overridden:
    that is what a merge is for.
    """

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, tuple[int, str]] = {}  # key -> (line, the key as written there)
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                written = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key)
                try:
                    seen = first.get(key)
                except TypeError:  # an unhashable key: the base class says so
                    continue
                if seen is not None:
                    line, spelled = seen
                    also = f" as {spelled!r}" if spelled != written else ""
                    raise DuplicateKeyError(None, None, f"duplicate key {written!r} (first on line {line + 1}{also})",
                                            key_node.start_mark)
                first[key] = (key_node.start_mark.line, written)
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(text: str) -> Any:
    """Parse YAML ``text`` safely (no object construction) and refuse duplicate keys (:class:`UniqueKeyLoader`)."""
    return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506  # a subclass of the safe loader


def yaml_problem(exc: yaml.YAMLError) -> str:
    """``line N: problem`` of a YAML error, for one-line messages that name the place."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return f"{where}{getattr(exc, 'problem', None) or exc}"


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` with errors that name the file (and the line, and a duplicated key)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist", "check the path")
    try:
        data = load_yaml_text(path.read_text(encoding="utf-8"))
    except DuplicateKeyError as exc:
        raise ConfigError(f"config file {path} {yaml_problem(exc)}",
                          "keep one of the two; YAML would silently use the last") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {yaml_problem(exc)}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not a text file") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not a {type(data).__name__}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its key path and a YAML-parsed value (``3e-4`` -> float, ``[1,2]`` -> list)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} is not of the form key.path=value", "e.g. --set optim.lr=3e-4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str) and value.strip() == "":
        value = None
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``key.path=value`` override set (intermediate mappings created)."""
    import copy

    result = copy.deepcopy(data)
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for depth, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                dotted = ".".join(path[: depth + 1])
                raise ConfigError(f"override {text!r}: {dotted} is a value, not a section")
            node = child
        node[path[-1]] = value
    return result


def _fields_at(schema: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Names of the fields of the sub-model at ``loc``, for 'valid keys' hints."""
    model: Any = schema
    for part in loc:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = field.annotation
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return None


def format_validation_error(exc: ValidationError, schema: type[BaseModel], source: str) -> str:
    """One line: the dotted path of the first bad key, what was wrong and what was expected."""
    err = exc.errors()[0]
    loc = tuple(str(p) for p in err.get("loc", ()))
    dotted = ".".join(loc) or "<root>"
    more = len(exc.errors()) - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more > 0 else ""
    if err.get("type") == "extra_forbidden":
        valid = _fields_at(schema, loc[:-1])
        hint = f"; valid keys here: {', '.join(valid)}" if valid else ""
        return f"{source}: unknown key {dotted}{hint}{tail}"
    got = err.get("input")
    got_text = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
    return f"{source}: {dotted}: {err.get('msg', 'invalid value')}{got_text}{tail}"


def validate_config(schema: type[T], data: Mapping[str, Any], source: str = "config") -> T:
    """Validate a plain mapping into ``schema`` with a one-line :class:`ConfigError` on failure."""
    try:
        return schema.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, schema, source)) from None


def load_config(
    schema: type[T],
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    base: Mapping[str, Any] | None = None,
) -> T:
    """Build a validated ``schema`` from defaults, then ``base``, then the YAML at ``path``, then overrides.

    A YAML file may carry a top-level ``kind:``; it must match the schema's registered kind.
    """
    data: dict[str, Any] = dict(base or {})
    source = "config"
    if path is not None:
        file_data = read_yaml(path)
        kind = file_data.pop("kind", None)
        if kind is not None:
            expected = [k for k, v in CONFIG_SCHEMAS.items() if v.endswith(f":{schema.__name__}")]
            if expected and kind not in expected:
                raise ConfigError(f"config file {path} is of kind {kind!r}, this command needs kind {expected[0]!r}")
        data = _deep_merge(data, file_data)
        source = str(path)
    overrides = list(overrides)
    if overrides:
        data = apply_overrides(data, overrides)
        source = f"{source} with --set" if path is not None else "--set"
    return validate_config(schema, data, source)


def _deep_merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_any_config(path: str | Path) -> ConfigModel:
    """Load a YAML file by its ``kind:`` key (used to check every file in ``configs/``)."""
    data = read_yaml(path)
    kind = data.get("kind")
    if kind is None:
        raise ConfigError(f"config file {path} has no 'kind:' key", f"valid kinds: {', '.join(sorted(CONFIG_SCHEMAS))}")
    return load_config(schema_for_kind(kind), path)


def config_to_yaml(config: BaseModel) -> str:
    """Serialise a config back to YAML (stored beside outputs, so a run can be repeated)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def configs_dir() -> Path:
    """The folder of built-in YAML configs: ``reid/configs`` when installed, ``configs/`` in a source checkout."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "configs", package_dir.parent / "configs"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("the built-in configs folder is missing from this installation", "reinstall reid")


def builtin_config(name: str) -> Path:
    """Path of a YAML file shipped in ``configs/`` (installed as ``reid/configs``), e.g. ``trackers/bytetrack.yaml``."""
    path = configs_dir() / name
    if not path.is_file():
        raise ConfigError(f"no built-in config named {name!r} in {configs_dir()}")
    return path
