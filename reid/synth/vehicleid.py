"""A synthetic dataset in the on-disk layout of PKU VehicleID.

Layout (same names and line format as the real dataset, fewer identities)::

    <root>/image/<name>.jpg                     name: 7 digits, e.g. 0000123
    <root>/train_test_split/train_list.txt      "<name> <vehicle_id>" per line
    <root>/train_test_split/test_list_800.txt   small:  first ~1/3 of the test identities
    <root>/train_test_split/test_list_1600.txt  medium: first ~2/3 (contains small)
    <root>/train_test_split/test_list_2400.txt  large:  all test identities (contains medium)
    <root>/attribute/color_attr.txt             "<vehicle_id> <colour index>" as in the real release
    <root>/attribute/model_attr.txt             "<vehicle_id> <body type index>"

Train and test identities are disjoint. Images are mostly front and rear views (as in the real dataset,
which was shot by road surveillance cameras), with some side views. Every image is ``size`` pixels; the
vehicle's scale and aspect inside it vary.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from reid.io import atomic_write_text
from reid.synth.output import (
    ProgressCallback,
    check_positive,
    make_dir,
    prepare_owned_dir,
    report,
    write_bytes,
)
from reid.synth.vehicles import BODY_TYPES, PAINTS, VehicleSpec, sample_vehicles
from reid.synth.views import CameraStyle, encode_jpeg, sample_view

TEST_LISTS: tuple[str, ...] = ("test_list_800.txt", "test_list_1600.txt", "test_list_2400.txt")
_STYLE = CameraStyle(view_weights=(0.45, 0.45, 0.10))


def split_test_ids(test_ids: list[int]) -> dict[str, list[int]]:
    """Nested small ⊂ medium ⊂ large test identities, keyed by the real file names."""
    n = len(test_ids)
    small = max(1, math.ceil(n / 3)) if n else 0
    medium = max(small, math.ceil(2 * n / 3)) if n else 0
    return {TEST_LISTS[0]: test_ids[:small], TEST_LISTS[1]: test_ids[:medium], TEST_LISTS[2]: list(test_ids)}


def _identity_labels(total: int, seed: int) -> list[int]:
    """Sparse, non-contiguous vehicle ids like the real dataset's (so no code can assume 0..N-1)."""
    rng = np.random.default_rng([int(seed), 31])
    return sorted(int(v) for v in rng.choice(np.arange(1, max(10 * total, 100)), total, replace=False))


def write_vehicleid(
    out: str | Path,
    num_train_ids: int = 60,
    num_test_ids: int = 40,
    images_per_id: tuple[int, int] = (4, 8),
    size: tuple[int, int] = (128, 128),
    seed: int = 0,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    near_duplicate_rate: float = 0.3,
) -> Path:
    """Write a VehicleID-layout dataset to ``out`` and return its root.

    Deterministic: the same arguments give byte-identical files. ``images_per_id`` is an inclusive range
    (at least 2, so every test identity has a query and a match). ``size`` is (width, height).
    ``progress(done, total, split=...)`` is called after each image.
    """
    check_positive("number of training identities", num_train_ids, "--ids / vehicleid.num_train_ids", 0)
    check_positive("number of test identities", num_test_ids, "--ids / vehicleid.num_test_ids", 1)
    lo, hi = int(images_per_id[0]), int(images_per_id[1])
    check_positive("images per identity", lo, "vehicleid.images_per_id", 2)
    check_positive("largest images per identity", hi, "vehicleid.images_per_id", lo)
    check_positive("image width", size[0], "vehicleid.size", 16)
    check_positive("image height", size[1], "vehicleid.size", 16)
    root = prepare_owned_dir(out, overwrite, ("image", "train_test_split", "attribute"))
    make_dir(root / "image")

    train_labels, test_labels = _split_labels(num_train_ids, num_test_ids, seed)
    labels = train_labels + test_labels
    specs = vehicleid_specs(num_train_ids, num_test_ids, seed, near_duplicate_rate)

    counts_rng = np.random.default_rng([int(seed), 41])
    counts = {label: int(counts_rng.integers(lo, hi + 1)) for label in labels}
    total = sum(counts.values())
    # Image numbers are shuffled so a file name says nothing about its identity.
    numbers = np.random.default_rng([int(seed), 43]).permutation(total) + 1
    names: dict[int, list[str]] = {}
    train_set = set(train_labels)
    done = 0
    for label in train_labels + test_labels:
        names[label] = []
        for k in range(counts[label]):
            name = f"{int(numbers[done]):07d}"
            rng = np.random.default_rng([int(seed), 47, label, k])
            img, quality = sample_view(specs[label], rng, size, _STYLE)
            write_bytes(root / "image" / f"{name}.jpg", encode_jpeg(img, quality))
            names[label].append(name)
            done += 1
            report(progress, done, total, split="train" if label in train_set else "test")

    def lines(for_labels: list[int]) -> str:
        return "".join(f"{n} {label}\n" for label in for_labels for n in names[label])

    split = root / "train_test_split"
    atomic_write_text(split / "train_list.txt", lines(train_labels))
    for file_name, ids in split_test_ids(test_labels).items():
        atomic_write_text(split / file_name, lines(ids))
    colors = list(PAINTS)
    atomic_write_text(root / "attribute" / "color_attr.txt",
                      "".join(f"{label} {colors.index(specs[label].color_name)}\n" for label in sorted(labels)))
    atomic_write_text(root / "attribute" / "model_attr.txt",
                      "".join(f"{label} {BODY_TYPES.index(specs[label].body)}\n" for label in sorted(labels)))
    return root


def _split_labels(num_train_ids: int, num_test_ids: int, seed: int) -> tuple[list[int], list[int]]:
    """Sorted train and test vehicle ids, disjoint, drawn from one shuffled pool."""
    labels = _identity_labels(num_train_ids + num_test_ids, seed)
    np.random.default_rng([int(seed), 37]).shuffle(labels)
    return sorted(labels[:num_train_ids]), sorted(labels[num_train_ids:])


def _relabel(spec: VehicleSpec, label: int, dup_label: int | None) -> VehicleSpec:
    from dataclasses import replace

    return replace(spec, vehicle_id=label, near_duplicate_of=dup_label)


def vehicleid_specs(num_train_ids: int = 60, num_test_ids: int = 40, seed: int = 0,
                    near_duplicate_rate: float = 0.3) -> dict[int, VehicleSpec]:
    """The identities :func:`write_vehicleid` draws for these arguments, keyed by vehicle id.

    Lets tests and benchmarks ask which identities are near-duplicates without parsing images.
    """
    out: dict[int, VehicleSpec] = {}
    for part, part_labels in enumerate(_split_labels(num_train_ids, num_test_ids, seed), start=1):
        for spec, label in zip(sample_vehicles(len(part_labels), seed * 10 + part, near_duplicate_rate), part_labels, strict=True):
            dup = spec.near_duplicate_of
            out[label] = _relabel(spec, label, part_labels[dup - 1] if dup is not None else None)
    return out
