"""Vehicle identities and their sprites: deterministic, every body and view drawable, near-duplicates present."""

from __future__ import annotations

import numpy as np
import pytest

from reid.synth.vehicles import (
    BODY_TYPES,
    VIEWS,
    near_duplicate,
    render_vehicle,
    sample_vehicle,
    sample_vehicles,
)
from reid.synth.views import CameraStyle, encode_jpeg, sample_view


def test_sample_vehicles_is_deterministic_and_seed_dependent():
    assert sample_vehicles(30, seed=3) == sample_vehicles(30, seed=3)
    assert sample_vehicles(30, seed=3) != sample_vehicles(30, seed=4)
    ids = [s.vehicle_id for s in sample_vehicles(5, seed=0, first_id=10)]
    assert ids == [10, 11, 12, 13, 14]


def test_near_duplicates_share_body_and_colour_but_not_plate():
    specs = sample_vehicles(60, seed=0, near_duplicate_rate=0.3)
    by_id = {s.vehicle_id: s for s in specs}
    dups = [s for s in specs if s.near_duplicate_of is not None]
    assert len(dups) >= 8
    for dup in dups:
        original = by_id[dup.near_duplicate_of]
        assert original.near_duplicate_of is None
        assert (dup.body, dup.color, dup.pattern) == (original.body, original.color, original.pattern)
        assert dup.plate != original.plate


@pytest.mark.parametrize("body", BODY_TYPES)
def test_every_body_renders_from_every_view(body):
    rng = np.random.default_rng(0)
    spec = sample_vehicle(1, rng)
    from dataclasses import replace

    spec = replace(spec, body=body)
    for view in VIEWS:
        img, mask = render_vehicle(spec, view)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[:2] == mask.shape
        assert min(mask.shape) >= 20
        # tightly cropped: the silhouette touches every border
        assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()
        again, _ = render_vehicle(spec, view)
        assert np.array_equal(img, again)
    side, _ = render_vehicle(spec, "side")
    flipped, _ = render_vehicle(spec, "side", flip=True)
    assert np.array_equal(side[:, ::-1], flipped)


def test_plate_and_decal_change_the_pixels_of_a_near_duplicate():
    rng = np.random.default_rng(5)
    spec = sample_vehicle(1, rng)
    twin = near_duplicate(spec, 2, rng)
    a, _ = render_vehicle(spec, "front")
    b, _ = render_vehicle(twin, "front")
    assert not np.array_equal(a, b)


def test_rendered_sprite_is_not_shared_with_the_cache():
    spec = sample_vehicles(1, seed=1)[0]
    img, mask = render_vehicle(spec, "rear")
    img[:] = 0
    again, _ = render_vehicle(spec, "rear")
    assert again.any()


def test_sample_view_is_deterministic_for_a_generator_state():
    spec = sample_vehicles(1, seed=2)[0]
    a, qa = sample_view(spec, np.random.default_rng([1, 2]), (96, 64), CameraStyle())
    b, qb = sample_view(spec, np.random.default_rng([1, 2]), (96, 64), CameraStyle())
    c, _ = sample_view(spec, np.random.default_rng([1, 3]), (96, 64), CameraStyle())
    assert a.shape == (64, 96, 3)
    assert np.array_equal(a, b) and qa == qb
    assert not np.array_equal(a, c)
    assert encode_jpeg(a, qa) == encode_jpeg(b, qb)
    assert encode_jpeg(a, qa)[:2] == b"\xff\xd8"
