"""reid gallery relink: a stored time range linked again in batch mode; identities outside it keep their ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reid.errors import InputError
from reid.gallery.config import LinkConfig
from reid.gallery.gallery import Gallery
from reid.gallery.relink import relink
from reid.gallery.store import StoredTracklet


def row(camera: str, track: int, t0: float, identity: int, feature: np.ndarray) -> StoredTracklet:
    return StoredTracklet(row_id=-1, camera=camera, track_id=track, cls=2, first_frame=0, last_frame=10,
                          t_start=t0, t_end=t0 + 2.0, num_boxes=10, identity=identity, run="r", feature=feature)


def unit(*v: float) -> np.ndarray:
    a = np.zeros(4, np.float32)
    a[: len(v)] = v
    return a / np.linalg.norm(a)


@pytest.fixture()
def gallery(tmp_path: Path) -> Path:
    root = tmp_path / "g"
    with Gallery.open(root, embedder="net", dim=4) as g:
        # early: identity 1 (cam1 + cam2); later: a live run split one vehicle into identities 2 and 3
        rows = [row("cam1", 1, 0.0, 1, unit(1, 0)), row("cam2", 1, 5.0, 1, unit(1, 0.1)),
                row("cam1", 2, 100.0, 2, unit(0, 1)), row("cam2", 2, 105.0, 3, unit(0, 1, 0.1))]
        g.add_run("live", "src", {"cam1": {}, "cam2": {}}, rows, [1, 2, 3])
    return root


def test_relinking_a_range_joins_what_the_live_run_split_and_keeps_ids_outside(gallery: Path) -> None:
    result = relink(gallery, LinkConfig(threshold=0.8), since=50.0)
    assert result.tracklets == 2 and result.identities_before == 2 and result.identities_after == 1
    with Gallery.open(gallery, create=False) as g:
        ids = {(t.camera, t.track_id): t.identity for t in g.tracklets(with_features=False)}
        assert ids[("cam1", 1)] == ids[("cam2", 1)] == 1  # outside the range: unchanged
        assert ids[("cam1", 2)] == ids[("cam2", 2)] != 1
        assert g.info()["identities"] == 2


def test_relinking_keeps_the_gallery_vectors_and_index(gallery: Path) -> None:
    with Gallery.open(gallery, create=False) as g:
        before = g.store.digest()
    relink(gallery, LinkConfig(threshold=0.8))
    with Gallery.open(gallery, create=False) as g:
        assert g.store.digest() == before and g.index is not None and g.index.ntotal == 4


def test_an_empty_range_is_a_clear_error(gallery: Path) -> None:
    with pytest.raises(InputError, match="no tracklet"):
        relink(gallery, since=1000.0, until=2000.0)


def test_relinking_again_what_did_not_change_changes_no_id_and_writes_nothing(gallery: Path) -> None:
    relink(gallery, LinkConfig(threshold=0.8), since=50.0)
    with Gallery.open(gallery, create=False) as g:
        before = {(t.camera, t.track_id): t.identity for t in g.tracklets(with_features=False)}
        runs = g.info()["runs"]
    again = relink(gallery, LinkConfig(threshold=0.8), since=50.0)
    assert again.changed == 0 and again.new_identities == 0 and again.run == ""
    with Gallery.open(gallery, create=False) as g:
        assert {(t.camera, t.track_id): t.identity for t in g.tracklets(with_features=False)} == before
        assert g.info()["runs"] == runs


def test_a_joined_identity_keeps_the_id_of_the_larger_part(tmp_path: Path) -> None:
    root = tmp_path / "g"
    with Gallery.open(root, embedder="net", dim=4) as g:
        # one vehicle stored as identity 5 (three sightings) and identity 9 (one): relinked, they are one
        rows = [row("cam1", 1, 0.0, 5, unit(1, 0)), row("cam2", 1, 5.0, 5, unit(1, 0.05)),
                row("cam3", 1, 9.0, 5, unit(1, 0.02)), row("cam1", 2, 30.0, 9, unit(1, 0.04))]
        g.add_run("live", "src", {"cam1": {}, "cam2": {}, "cam3": {}}, rows, [5, 9])
    result = relink(root, LinkConfig(threshold=0.8))
    assert result.identities_after == 1 and result.new_identities == 0 and result.changed == 1
    with Gallery.open(root, create=False) as g:
        assert {t.identity for t in g.tracklets(with_features=False)} == {5}
