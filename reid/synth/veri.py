"""A synthetic dataset in the on-disk layout of VeRi-776.

Layout (same names as the real dataset, fewer identities and cameras)::

    <root>/image_train/<vehicle>_c<camera>_<frame>_<n>.jpg   e.g. 0002_c002_00030600_0.jpg
    <root>/image_test/...                                     the test gallery (every test image)
    <root>/image_query/...                                    one image per test identity and camera,
                                                              also present in image_test as in the real release
    <root>/name_train.txt  name_test.txt  name_query.txt      one file name per line

Each identity is seen by two or more cameras, in short tracks of consecutive frames. A camera has its own
look (white balance, brightness, blur, background, preferred viewpoints, see
:class:`reid.synth.views.CameraStyle`), so the camera-aware VeRi protocol (same identity, same camera
removed from the gallery) is meaningful. Train and test identities are disjoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reid.errors import InputError
from reid.io import atomic_write_text
from reid.synth.output import (
    ProgressCallback,
    check_positive,
    make_dir,
    prepare_owned_dir,
    report,
    write_bytes,
)
from reid.synth.vehicles import VehicleSpec, sample_vehicles
from reid.synth.views import CameraStyle, encode_jpeg, sample_view

_VIEWS = ("front", "rear", "side")


def veri_name(vehicle: int, camera: int, frame: int, n: int = 0) -> str:
    """A VeRi-776 file name: ``0002_c002_00030600_0.jpg``."""
    return f"{vehicle:04d}_c{camera:03d}_{frame:08d}_{n}.jpg"


def _labels(num_train_ids: int, num_test_ids: int, seed: int) -> tuple[list[int], list[int]]:
    total = num_train_ids + num_test_ids
    rng = np.random.default_rng([int(seed), 53])
    pool = rng.choice(np.arange(1, min(9999, max(2 * total, 100))), total, replace=False)
    return sorted(int(v) for v in pool[:num_train_ids]), sorted(int(v) for v in pool[num_train_ids:])


def veri_specs(num_train_ids: int = 40, num_test_ids: int = 20, seed: int = 0,
               near_duplicate_rate: float = 0.3) -> dict[int, VehicleSpec]:
    """The identities :func:`write_veri` draws for these arguments, keyed by vehicle id."""
    from dataclasses import replace

    out: dict[int, VehicleSpec] = {}
    for part, labels in enumerate(_labels(num_train_ids, num_test_ids, seed), start=1):
        for spec, label in zip(sample_vehicles(len(labels), seed * 10 + 5 + part, near_duplicate_rate), labels, strict=True):
            dup = spec.near_duplicate_of
            out[label] = replace(spec, vehicle_id=label, near_duplicate_of=labels[dup - 1] if dup is not None else None)
    return out


def write_veri(
    out: str | Path,
    num_train_ids: int = 40,
    num_test_ids: int = 20,
    cameras: int = 6,
    size: tuple[int, int] = (128, 128),
    seed: int = 0,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    near_duplicate_rate: float = 0.3,
) -> Path:
    """Write a VeRi-776-layout dataset to ``out`` and return its root.

    Deterministic for the arguments. ``size`` is (width, height). ``progress(done, total, split=...)`` is
    called after each image.
    """
    check_positive("number of training identities", num_train_ids, "--ids / veri.num_train_ids", 0)
    check_positive("number of test identities", num_test_ids, "--ids / veri.num_test_ids", 1)
    check_positive("number of cameras", cameras, "--cameras / veri.cameras", 2)
    if cameras > 999:
        raise InputError(f"VeRi file names hold 3-digit camera numbers; {cameras} cameras is too many", "use --cameras 999 or fewer")
    check_positive("image width", size[0], "veri.size", 16)
    check_positive("image height", size[1], "veri.size", 16)
    if num_train_ids + num_test_ids > 9000:
        raise InputError(f"VeRi file names hold 4-digit vehicle ids; {num_train_ids + num_test_ids} identities is too many",
                         "use --ids 9000 or fewer")
    root = prepare_owned_dir(out, overwrite, ("image_train", "image_test", "image_query",
                                              "name_train.txt", "name_test.txt", "name_query.txt"))
    for sub in ("image_train", "image_test", "image_query"):
        make_dir(root / sub)

    style_rng = np.random.default_rng([int(seed), 59])
    styles = [CameraStyle.sample(style_rng) for _ in range(cameras)]
    specs = veri_specs(num_train_ids, num_test_ids, seed, near_duplicate_rate)
    train_labels, test_labels = _labels(num_train_ids, num_test_ids, seed)

    # Plan every identity's tracks first, so the progress total is known.
    plan: list[tuple[str, int, int, int, list[int]]] = []  # split, label, camera, view index, frames
    for split, labels in (("train", train_labels), ("test", test_labels)):
        for label in labels:
            rng = np.random.default_rng([int(seed), 61, label])
            visited = sorted(int(c) for c in rng.choice(cameras, int(rng.integers(2, min(cameras, 5) + 1)), replace=False))
            for cam in visited:
                weights = np.asarray(styles[cam].view_weights)
                view = int(rng.choice(3, p=weights / weights.sum()))
                start = int(rng.integers(0, 90_000_000))
                frames = [start + 5 * k for k in range(int(rng.integers(1, 5)))]
                plan.append((split, label, cam, view, frames))
    total = sum(len(p[4]) for p in plan)

    names: dict[str, list[str]] = {"train": [], "test": [], "query": []}
    done = 0
    for split, label, cam, view, frames in plan:
        folder = "image_train" if split == "train" else "image_test"
        for k, frame in enumerate(frames):
            name = veri_name(label, cam + 1, frame)
            rng = np.random.default_rng([int(seed), 67, label, cam, k])
            img, quality = sample_view(specs[label], rng, size, styles[cam], view=_VIEWS[view])
            data = encode_jpeg(img, quality)
            write_bytes(root / folder / name, data)
            names[split].append(name)
            if split == "test" and k == 0:  # one query per identity and camera
                write_bytes(root / "image_query" / name, data)
                names["query"].append(name)
            done += 1
            report(progress, done, total, split=split)

    for split in ("train", "test", "query"):
        atomic_write_text(root / f"name_{split}.txt", "".join(f"{n}\n" for n in sorted(names[split])))
    return root
