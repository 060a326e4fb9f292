"""The weights list of this machine: one entry per checkpoint path, written atomically, in the cache folder."""

from __future__ import annotations

import json

import pytest

from reid.models.catalog import catalog_path, list_weights, record_checkpoint


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REID_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_recording_a_path_again_replaces_its_entry(cache, small_ckpt, tmp_path) -> None:
    import shutil

    assert catalog_path() == cache / "weights.json" and list_weights() == []
    record_checkpoint(small_ckpt, "trained", "reid train on vehicleid data, from random weights")
    record_checkpoint(small_ckpt, "trained", "reid train again")
    other = tmp_path / "copy.pt"
    shutil.copy(small_ckpt, other)
    record_checkpoint(other, "imported", "a copy")
    entries = list_weights()
    assert [(e.path, e.origin) for e in entries] == [
        (str(small_ckpt.resolve()), "reid train again"),
        (str(other.resolve()), "a copy"),
    ]
    first = entries[0]
    assert first.architecture.startswith("resnet18, GeM (learned p), BNNeck, linear 64")
    assert first.input_size == (64, 64) and first.dim == 64 and first.exists and len(first.identity) == 16
    # Only the list itself (and its lock) is written in the cache folder, and no temporary file is left.
    assert sorted(p.name for p in cache.iterdir()) == ["weights.json", "weights.json.lock"]
    assert json.loads((cache / "weights.json").read_text())["format"] == "reid-weights-list"
