"""``reid embed``: embed a folder of images, a CSV list or a dataset split into a features file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import ConfigOpt, SetOpt


def embed(
    input: Annotated[
        str | None,
        typer.Argument(
            help="A folder of images (one subfolder per identity, or flat), or a CSV path,id[,camera]."
        ),
    ] = None,
    weights: Annotated[
        str, typer.Option("--weights", "-w", help="Checkpoint from 'reid train' (best.pt).")
    ] = "",
    out: Annotated[Path, typer.Option("--out", "-o", help="Features file to write (.npz).")] = Path(
        "features.npz"
    ),
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Read a dataset instead of INPUT: vehicleid, veri, folder, csv."),
    ] = None,
    root: Annotated[str | None, typer.Option("--root", help="Dataset root for --dataset.")] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Dataset split, e.g. large (vehicleid) or query (veri).")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device", help="auto (CUDA when present), cpu, cuda, cuda:N (default auto).", show_default=False
        ),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Images per batch (default 128).", show_default=False)
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Decoding worker processes (default 2; at most the CPU cores).",
            show_default=False,
        ),
    ] = None,
    skip_missing: Annotated[
        bool, typer.Option("--skip-missing", help="Skip listed images that are missing on disk (counted).")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")] = False,
    engine: Annotated[str, typer.Option(
        "--engine", help="local (this machine, default) or ray (a pool of actors on a Ray cluster, each loading "
                         "the network once; pip install \"reid[ray]\").")] = "local",
    ray_address: Annotated[str | None, typer.Option(
        "--ray-address", help="--engine ray: the cluster (default: RAY_ADDRESS, else a local Ray).")] = None,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Write L2-normalised embeddings of every image, with paths, labels and cameras, to a .npz file.

    Examples: reid embed crops/ --weights runs/pnp/best.pt --out crops.npz;
    reid embed --dataset vehicleid --root /data/VehicleID --split large --weights best.pt --out large.npz
    """
    from reid.data.features import FeatureSet, save_features
    from reid.errors import InputError
    from reid.models.config import EmbedConfig
    from reid.models.inference import CropEmbedder, embed_records

    from .common import capped_workers, console, load_command_config, progress, progress_callback

    flags = {"device": device, "batch_size": batch_size, "num_workers": workers}
    given = [f"{key}={value}" for key, value in flags.items() if value is not None]
    cfg = load_command_config(EmbedConfig, config, given + list(sets or []))
    if not weights:
        raise InputError("no network given", "pass --weights with a checkpoint from 'reid train'")
    records, source = _records(input, dataset, root, split, skip_missing)
    from reid.output_files import is_features_file
    from reid.outputs import check_output_file

    out_path = check_output_file(out, overwrite, [input, root, weights, config], is_features_file,
                                 "features file", "--out", suffix=".npz")
    if engine not in ("local", "ray"):
        raise InputError(f"unknown --engine {engine!r}", "use local or ray")
    num_workers = capped_workers(cfg.num_workers, "--workers" if workers is not None else "num_workers")
    embedder = CropEmbedder.from_checkpoint(weights, device=cfg.device, batch_size=cfg.batch_size)
    with progress(transient=True) as bar:
        callback = progress_callback(bar, "embedding", len(records))
        if engine == "ray":
            from reid.engine.config import EngineConfig
            from reid.engine.ray import embed_records_on_ray

            feats = embed_records_on_ray(list(records), weights, cfg.device, cfg.batch_size,
                                         EngineConfig(name="ray", address=ray_address), progress=callback)
        else:
            feats = embed_records(
                records, embedder, batch_size=cfg.batch_size, num_workers=num_workers, progress=callback
            )
    meta = {
        "identity": embedder.identity,
        "weights": str(weights),
        "input_size": list(embedder.input_size),
        "mean": list(embedder.mean),
        "std": list(embedder.std),
        "interpolation": embedder.interpolation,
        "source": source,
        "backend": embedder.backend,
    }
    path = save_features(out_path, FeatureSet.from_records(feats, records, meta))
    skipped = len(getattr(records, "missing", []))
    note = f" ({skipped} missing images skipped)" if skipped else ""
    console.print(
        f"{len(records)} embeddings of size {embedder.dim} written to {path}{note} [dim]({embedder.backend})[/]",
        highlight=False,
    )


def _records(input: str | None, dataset: str | None, root: str | None, split: str | None, skip_missing: bool):  # type: ignore[no-untyped-def]
    from reid.data.datasets import read_dataset
    from reid.errors import InputError

    if dataset is not None:
        if input is not None:
            raise InputError("give either INPUT or --dataset, not both")
        if root is None:
            raise InputError(f"--dataset {dataset} needs --root")
        return read_dataset(dataset, root, split, skip_missing=skip_missing), f"{dataset}:{root}:{split}"
    if input is None:
        raise InputError("nothing to embed", "pass a folder or CSV, or --dataset with --root and --split")
    path = Path(input).expanduser()
    if path.is_dir():
        return read_dataset("folder", path, split, skip_missing=skip_missing), f"folder:{path}"
    if path.is_file() and path.suffix.lower() in (".csv", ".txt"):
        return read_dataset("csv", path, split, skip_missing=skip_missing), f"csv:{path}"
    if not path.exists():
        raise InputError(f"input {path} does not exist", "pass a folder of images or a CSV file")
    raise InputError(f"input {path} is neither a folder nor a .csv file")
