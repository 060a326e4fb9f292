"""``reid eval``: measure an embedding network on VehicleID, VeRi-776, or your own query/gallery folders.

The typer group ``app`` is importable without side effects; other modules may add their own commands to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .common import ConfigOpt, SetOpt

app = typer.Typer(
    help=(
        "Measure an embedding network on re-ID benchmarks: VehicleID (paper and gallery protocols), "
        "VeRi-776, or query/gallery folders. Give --weights (embeds the images) or --features (from reid embed)."
    ),
    no_args_is_help=True,
)

WeightsOpt = Annotated[
    Path | None,
    typer.Option("--weights", "-w", help="Checkpoint to embed the images with.", show_default=False),
]
FeaturesOpt = Annotated[
    Path | None,
    typer.Option(
        "--features", "-f", help="Features .npz written by 'reid embed' for these images.", show_default=False
    ),
]
RerankOpt = Annotated[
    bool | None,
    typer.Option(
        "--rerank/--no-rerank", help="k-reciprocal re-ranking (Zhong et al. 2017).", show_default=False
    ),
]
K1Opt = Annotated[int | None, typer.Option("--k1", help="Re-ranking k1 (default 20).", show_default=False)]
K2Opt = Annotated[int | None, typer.Option("--k2", help="Re-ranking k2 (default 6).", show_default=False)]
LambdaOpt = Annotated[
    float | None,
    typer.Option(
        "--lambda", help="Re-ranking weight of the original distance (default 0.3).", show_default=False
    ),
]
JsonOpt = Annotated[
    Path | None,
    typer.Option("--json", help="Write the results to this JSON file (atomically).", show_default=False),
]
VisOpt = Annotated[
    int, typer.Option("--visualize", help="Draw rank lists of the N worst queries (needs --vis-dir).")
]
VisDirOpt = Annotated[
    Path | None,
    typer.Option("--vis-dir", help="Folder for the rank-list PNGs (new or empty).", show_default=False),
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Allow a non-empty --vis-dir.")]
DeviceOpt = Annotated[
    str | None,
    typer.Option("--device", help="auto (CUDA when present), cpu, cuda, cuda:N.", show_default=False),
]
BatchOpt = Annotated[
    int | None,
    typer.Option("--batch-size", help="Images per embedding batch (default 128).", show_default=False),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--num-workers",
        "--workers",
        help="Image-loading worker processes (default 2; at most the CPU cores).",
        show_default=False,
    ),
]
SkipOpt = Annotated[
    bool,
    typer.Option("--skip-missing", help="Evaluate without listed images that are missing on disk (counted)."),
]


def _config(config: Path | None, sets: list[str] | None, flags: dict[str, Any]):
    """The eval config: --config, then --set, then the flags given explicitly on the command line."""
    from reid.evaluation.config import EvalConfig

    from .common import capped_workers, load_command_config

    extra = [f"{key}={value}" for key, value in flags.items() if value is not None]
    cfg = load_command_config(EvalConfig, config, [*(sets or []), *extra])
    what = "--num-workers" if flags.get("num_workers") is not None else "num_workers"
    return cfg.model_copy(update={"num_workers": capped_workers(cfg.num_workers, what)})


def _rerank(cfg: Any):
    from reid.evaluation.rerank import RerankParams

    if not cfg.rerank.enabled:
        return None
    return RerankParams(k1=cfg.rerank.k1, k2=cfg.rerank.k2, lam=cfg.rerank.lam)


def _check_outputs(visualize: int, vis_dir: Path | None, overwrite: bool, json_out: Path | None,
                   inputs: list[Path | None]) -> None:
    """Refuse bad outputs (``--vis-dir``, ``--json``) before any image is embedded."""
    from reid.errors import InputError
    from reid.io import prepare_output_dir

    from .common import check_json_out

    check_json_out(json_out, inputs)
    if visualize < 0:
        raise InputError(f"--visualize must be 0 or more, got {visualize}")
    if visualize and vis_dir is None:
        raise InputError("--visualize needs --vis-dir DIR for the pictures")
    if visualize and vis_dir is not None:
        prepare_output_dir(vis_dir, overwrite, "--overwrite")


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return f"{value['mean']:.2f} ± {value['std']:.2f}"
    return f"{value:.2f}"


def _render(
    run: Any, json_out: Path | None, visualize: int, vis_dir: Path | None, published: dict | None
) -> None:
    from rich.table import Table

    from reid.io import atomic_write_json

    from .common import console

    result = run.result
    title = f"{result['dataset']}" + (f" {result['split']}" if "split" in result else "")
    table = Table(title=f"reid eval: {title}", header_style="bold")
    table.add_column("protocol")
    table.add_column("metric")
    table.add_column("ours (%)", justify="right")
    if published:
        table.add_column("published (%)", justify="right")
        table.add_column("source")
    for name, metrics in result["protocols"].items():
        for key, value in metrics.items():
            if key.startswith("rank") or key in ("mAP", "mINP"):
                row = [name, key, _fmt(value)]
                if published:
                    number, source = published.get((name, key), (None, ""))
                    row += [f"{number:.1f}" if number is not None else "", source]
                table.add_row(*row)
    console.print(table)
    for name, metrics in result["protocols"].items():
        counts = "  ".join(
            f"{k}={v}" for k, v in metrics.items() if k.startswith("num_") or k in ("repeats", "seed")
        )
        console.print(f"[dim]{name}: {counts}[/]")
    skipped = result.get("num_missing_skipped", 0)
    if skipped:
        console.print(f"[yellow]skipped {skipped} listed images missing on disk (--skip-missing)[/]")
    excluded = result.get("excluded_queries", [])
    if excluded:
        console.print(
            f"[yellow]{len(excluded)} queries have no image of their identity in their gallery: excluded from the "
            f"metrics and counted as num_excluded (e.g. {excluded[0]})[/]"
        )
    if json_out is not None:
        atomic_write_json(json_out, result)
        console.print(f"results written to {json_out}")
    if visualize:
        from reid.evaluation.visualize import worst_queries, write_rank_lists

        chosen = worst_queries(run.per_query_ap, visualize)
        paths = write_rank_lists(
            vis_dir,
            chosen,
            run.query_records,
            run.gallery_records,
            run.similarity,
            run.per_query_ap,
            run.removed,
        )
        console.print(f"{len(paths)} rank lists written to {vis_dir}")


@app.command("vehicleid")
def vehicleid(
    root: Annotated[Path, typer.Option("--root", help="VehicleID folder (image/, train_test_split/).")],
    split: Annotated[
        str, typer.Option("--split", help="Test list: small (800 ids), medium (1,600), large (2,400).")
    ] = "large",
    weights: WeightsOpt = None,
    features: FeaturesOpt = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            help="paper (all-vs-all, as in the PNP paper), gallery (Liu et al.), or both (default).",
            show_default=False,
        ),
    ] = None,
    repeats: Annotated[
        int | None, typer.Option("--repeats", help="Gallery draws (default 10).", show_default=False)
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of the gallery draws (default 0).", show_default=False)
    ] = None,
    rerank: RerankOpt = None,
    k1: K1Opt = None,
    k2: K2Opt = None,
    lam: LambdaOpt = None,
    json_out: JsonOpt = None,
    visualize: VisOpt = 0,
    vis_dir: VisDirOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = None,
    batch_size: BatchOpt = None,
    num_workers: WorkersOpt = None,
    skip_missing: SkipOpt = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Evaluate on a VehicleID test list: one embedding pass, the paper and/or gallery protocol.

    The paper protocol (every image queries all others) gives the numbers the PNP and Smooth-AP papers
    publish; the gallery protocol (one random image per identity as gallery, mean ± std over draws) gives
    the numbers most re-ID codebases publish. See docs/protocols.md.
    """
    from reid.evaluation.published import published_vehicleid
    from reid.evaluation.runner import evaluate_vehicleid

    from .common import progress, progress_callback

    cfg = _config(
        config,
        sets,
        {"protocol": protocol, "repeats": repeats, "seed": seed, "rerank.enabled": rerank, "rerank.k1": k1,
         "rerank.k2": k2, "rerank.lam": lam, "device": device, "batch_size": batch_size, "num_workers": num_workers},
    )  # fmt: skip
    _check_outputs(visualize, vis_dir, overwrite, json_out, [root, weights, features, config])
    with progress(transient=True) as bar:
        run = evaluate_vehicleid(
            root, split, weights, features, cfg.protocol, cfg.repeats, cfg.seed, _rerank(cfg), cfg.device,
            cfg.batch_size, cfg.num_workers, skip_missing, lambda d, t: progress_callback(bar, d, t),
        )  # fmt: skip
    _render(run, json_out, visualize, vis_dir, published_vehicleid(split, list(run.result["protocols"])))


@app.command("veri")
def veri(
    root: Annotated[Path, typer.Option("--root", help="VeRi-776 folder (image_query/, image_test/).")],
    weights: WeightsOpt = None,
    features: FeaturesOpt = None,
    rerank: RerankOpt = None,
    k1: K1Opt = None,
    k2: K2Opt = None,
    lam: LambdaOpt = None,
    json_out: JsonOpt = None,
    visualize: VisOpt = 0,
    vis_dir: VisDirOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = None,
    batch_size: BatchOpt = None,
    num_workers: WorkersOpt = None,
    skip_missing: SkipOpt = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Evaluate on VeRi-776: Rank-1/5/10, mAP and mINP, same vehicle and camera removed per query.

    Each query image is matched against the test images; gallery images of its own vehicle seen by its own
    camera are removed first, as in the VeRi-776 protocol.
    """
    from reid.evaluation.runner import evaluate_veri

    from .common import progress, progress_callback

    cfg = _config(
        config,
        sets,
        {"rerank.enabled": rerank, "rerank.k1": k1, "rerank.k2": k2, "rerank.lam": lam, "device": device,
         "batch_size": batch_size, "num_workers": num_workers},
    )  # fmt: skip
    _check_outputs(visualize, vis_dir, overwrite, json_out, [root, weights, features, config])
    with progress(transient=True) as bar:
        run = evaluate_veri(
            root, weights, features, _rerank(cfg), cfg.device, cfg.batch_size, cfg.num_workers, skip_missing,
            lambda d, t: progress_callback(bar, d, t),
        )  # fmt: skip
    _render(run, json_out, visualize, vis_dir, None)


@app.command("folder")
def folder(
    query: Annotated[
        Path | None,
        typer.Option("--query", help="Query folder: one subfolder per identity.", show_default=False),
    ] = None,
    gallery: Annotated[
        Path | None,
        typer.Option("--gallery", help="Gallery folder: one subfolder per identity.", show_default=False),
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Instead of folders: CSV path,id[,camera],split with query/gallery rows.",
            show_default=False,
        ),
    ] = None,
    weights: WeightsOpt = None,
    features: FeaturesOpt = None,
    rerank: RerankOpt = None,
    k1: K1Opt = None,
    k2: K2Opt = None,
    lam: LambdaOpt = None,
    json_out: JsonOpt = None,
    visualize: VisOpt = 0,
    vis_dir: VisDirOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = None,
    batch_size: BatchOpt = None,
    num_workers: WorkersOpt = None,
    skip_missing: SkipOpt = False,
    config: ConfigOpt = None,
    sets: SetOpt = None,
) -> None:
    """Evaluate your own query and gallery images (two folders, or one CSV with a split column).

    Reports Rank-1/5/10, mAP and mINP. With cameras in the CSV, gallery images of the query's identity taken
    by the query's camera are removed, as in VeRi-776; folders carry no cameras, so nothing is removed.
    """
    from reid.evaluation.runner import evaluate_folder

    from .common import progress, progress_callback

    cfg = _config(
        config,
        sets,
        {"rerank.enabled": rerank, "rerank.k1": k1, "rerank.k2": k2, "rerank.lam": lam, "device": device,
         "batch_size": batch_size, "num_workers": num_workers},
    )  # fmt: skip
    _check_outputs(visualize, vis_dir, overwrite, json_out, [query, gallery, csv, weights, features, config])
    with progress(transient=True) as bar:
        run = evaluate_folder(
            query, gallery, csv, weights, features, _rerank(cfg), cfg.device, cfg.batch_size, cfg.num_workers,
            skip_missing, lambda d, t: progress_callback(bar, d, t),
        )  # fmt: skip
    _render(run, json_out, visualize, vis_dir, None)
