"""``reid weights``: bring public re-ID weights into reid's checkpoint format, and list the weights on this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Import public re-ID weights and list the weights on this machine.", no_args_is_help=True
)
import_app = typer.Typer(
    help="Convert another program's checkpoint into a reid checkpoint.", no_args_is_help=True
)
app.add_typer(import_app, name="import")


@import_app.command(name="fastreid")
def fastreid(
    source: Annotated[
        Path, typer.Argument(metavar="FILE", help="fast-reid checkpoint (.pth), e.g. veri_sbs_R50-ibn.pth.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="reid checkpoint to write (.pt).")] = Path(
        "model.pt"
    ),
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="The fast-reid YAML it was trained with (optional; _BASE_ files beside it).",
        ),
    ] = None,
    pooling: Annotated[
        str,
        typer.Option(
            "--pooling",
            help="auto (from the file or --config), gem (fixed p = 3, fast-reid's GeneralizedMeanPooling) or avg.",
        ),
    ] = "auto",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing reid checkpoint at --out.")
    ] = False,
) -> None:
    """Convert a fast-reid checkpoint (ResNet-50/101, IBN-a, non-local, GeM, BNNeck) into a reid checkpoint.

    The result works wherever --weights or --reid-weights does. Every key of the file is used or listed as
    ignored; the file is read safely (a pickle with code is refused). Example:
    reid weights import fastreid veri_sbs_R50-ibn.pth --out veri_sbs.pt
    """
    from reid.errors import ReidError
    from reid.models.catalog import catalog_path, record_checkpoint
    from reid.models.fastreid_import import import_fastreid

    from .common import console

    with console.status(f"importing {source}"):
        result = import_fastreid(source, out, config=config, pooling=pooling, overwrite=overwrite)
    h, w = result.model_config.input_size
    console.print(f"wrote {result.out} (network {result.identity}, input {h}x{w})", highlight=False)
    for note in result.notes:
        console.print(f"  {note}", highlight=False)
    ignored = ", ".join(sorted(result.ignored)) or "none"
    console.print(f"  keys: {result.used} used, {len(result.ignored)} ignored ({ignored})", highlight=False)
    try:
        record_checkpoint(
            result.out, "imported", f"fast-reid {source.name} (sha256 {result.source_sha256[:12]})"
        )
    except ReidError as exc:
        console.print(f"[yellow]not added to the weights list {catalog_path()}: {exc}[/]", highlight=False)


@app.command(name="list")
def list_(
    json_out: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """Show the checkpoints imported or trained on this machine: architecture, input size, origin.

    The list lives in $REID_CACHE_DIR/weights.json (default ~/.cache/reid/weights.json); 'reid weights
    import' and 'reid train' add to it. A file that was moved or deleted since is marked missing.
    """
    import json
    from dataclasses import asdict

    from rich.markup import escape
    from rich.table import Table

    from reid.models.catalog import catalog_path, list_weights

    from .common import console

    entries = list_weights()
    if json_out:
        rows = [{**asdict(e), "input_size": list(e.input_size), "exists": e.exists} for e in entries]
        typer.echo(json.dumps(rows, indent=2))
        return
    if not entries:
        console.print(
            f"no weights recorded in {catalog_path()} yet: 'reid weights import fastreid FILE' or 'reid train' adds them",
            highlight=False,
            soft_wrap=True,
        )
        return
    table = Table(title=f"weights on this machine ({escape(str(catalog_path()))})", header_style="bold")
    for column in ("checkpoint", "architecture", "input", "dim", "origin", "recorded"):
        table.add_column(column, overflow="fold")
    for e in entries:
        path = Path(e.path)
        state = "" if e.exists else " [red](missing)[/]"
        where = f"[bold]{escape(path.name)}[/]{state}\n[dim]{escape(str(path.parent))}[/]"
        h, w = e.input_size
        table.add_row(where, e.architecture, f"{h}x{w}", str(e.dim), escape(e.origin), e.recorded[:10])
    console.print(table)
