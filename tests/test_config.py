"""The typed config loader: YAML + dotted overrides, and one-line messages that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from reid.config import (
    CONFIG_SCHEMAS,
    ConfigModel,
    apply_overrides,
    configs_dir,
    load_any_config,
    load_config,
    parse_override,
)
from reid.errors import ConfigError


class Optim(ConfigModel):
    lr: float = 1e-3
    name: str = "adam"


class Train(ConfigModel):
    epochs: int = 10
    optim: Optim = Optim()
    tags: list[str] = []


def test_defaults_file_and_overrides_stack(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("epochs: 3\noptim:\n  name: sgd\n")
    cfg = load_config(Train, path, ["optim.lr=3e-4", "tags=[a, b]"])
    assert cfg.epochs == 3
    assert cfg.optim.name == "sgd"
    assert cfg.optim.lr == pytest.approx(3e-4)
    assert cfg.tags == ["a", "b"]


def test_unknown_key_names_dotted_path_and_valid_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(Train, None, ["optim.lrr=1"])
    message = str(info.value)
    assert "optim.lrr" in message
    assert "lr" in message and "name" in message
    assert "\n" not in message


def test_wrong_type_names_key_and_expectation(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("epochs: many\n")
    with pytest.raises(ConfigError) as info:
        load_config(Train, path)
    message = str(info.value)
    assert "epochs" in message and "integer" in message and "many" in message
    assert str(path) in message


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Train, bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Train, tmp_path / "missing.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(Train, listing)


@pytest.mark.parametrize("text", ["noequals", "=3", "a..b=1", ".a=1"])
def test_malformed_override(text: str) -> None:
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override(text)


def test_override_into_a_value_is_refused() -> None:
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"epochs": 3}, ["epochs.x=1"])


def test_override_does_not_mutate_input() -> None:
    data = {"optim": {"lr": 1.0}}
    out = apply_overrides(data, ["optim.lr=2"])
    assert data["optim"]["lr"] == 1.0 and out["optim"]["lr"] == 2


def test_every_shipped_config_loads() -> None:
    files = sorted(configs_dir().rglob("*.yaml"))
    assert files, "configs/ holds no YAML files"
    for path in files:
        cfg = load_any_config(path)
        assert isinstance(cfg, ConfigModel), path


def test_every_registered_kind_imports() -> None:
    from reid.config import schema_for_kind

    for kind in CONFIG_SCHEMAS:
        assert issubclass(schema_for_kind(kind), ConfigModel)
