"""Pieces every command shares: the console, config options, the error boundary and progress bars.

Commands stay thin: parse flags, load a config, call the library, render the result with rich.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

state: dict[str, bool] = {"debug": False}

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file (see configs/).", show_default=False),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config key, e.g. --set optim.lr=3e-4 (repeatable).", show_default=False),
]

T = TypeVar("T")


def load_command_config(schema: type[T], config: Path | None, sets: list[str] | None, base: dict | None = None) -> T:
    """Load ``schema`` from ``--config`` and ``--set`` (raises ConfigError with the dotted key on failure)."""
    from reid.config import load_config

    return load_config(schema, config, sets or (), base=base)  # type: ignore[arg-type]


def capped_workers(requested: int, what: str) -> int:
    """A worker count from a flag or config capped to the CPU cores (``reid.procs.cap_workers``), with a note
    when it was lowered: more processes than cores only add memory, and a typo like 100000 would take the
    machine down."""
    from reid.procs import cap_workers

    count, note = cap_workers(requested, what=what)
    if note:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    return count


def print_error(exc: BaseException) -> None:
    """One red line for an expected failure, plus its hint."""
    from rich.markup import escape

    message = getattr(exc, "message", str(exc))
    hint = getattr(exc, "hint", None)
    line = f"[bold red]error:[/] {escape(message)}"
    if hint:
        line += f" [dim]({escape(hint)})[/]"
    err_console.print(line, soft_wrap=True, highlight=False)


@contextlib.contextmanager
def progress(transient: bool = False) -> Iterator[Any]:
    """A rich progress display with a bar, counts, rate and ETA; long work reports into it through callbacks."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, transient=transient) as bar:
        yield bar


def progress_callback(bar: Any, description: str, total: int | None = None) -> Callable[..., None]:
    """A library progress callback ``cb(done, total=None, **info)`` that drives one rich task."""
    task = bar.add_task(description, total=total, info="")

    def callback(done: int, total: int | None = None, **info: Any) -> None:
        text = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
        kwargs: dict[str, Any] = {"completed": done, "info": text}
        if total is not None:
            kwargs["total"] = total
        bar.update(task, **kwargs)

    return callback


def check_json_out(json_out: Path | None, inputs: list[Any]) -> None:
    """Check a ``--json`` results file before any work: never an input or inside one, never a file reid did not
    write (an earlier results file of reid's is replaced), never a folder or an unwritable place."""
    if json_out is None:
        return
    from reid.output_files import is_eval_json
    from reid.outputs import check_output_file

    check_output_file(json_out, True, inputs, is_eval_json, "results file", "--json")
