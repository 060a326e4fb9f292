"""Entry point of the ``reid`` command: the typer app, global flags and the error boundary.

Each command group lives in its own module and is added here explicitly. Modules import only typer and
rich at top level; the library (and torch, ultralytics, faiss) is imported inside each command, which keeps
``reid --help`` fast.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Annotated

import typer

from . import demo, doctor, embed, eval_mot, eval_mtmc, export, gallery, live, synth, track, train
from . import eval as eval_cmd
from . import weights as weights_cmd
from .common import print_error, state

app = typer.Typer(
    name="reid",
    help=(
        "Vehicle re-identification across cameras: detect and track vehicles in video, embed them with a "
        "PNP-trained network, and link identities across cameras through a persistent gallery."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from reid import __version__

        typer.echo(f"reid {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks of errors.")] = False,
) -> None:
    """Vehicle re-identification across cameras."""
    state["debug"] = debug or os.environ.get("REID_DEBUG", "") not in ("", "0")


app.command(name="doctor")(doctor.doctor)
app.add_typer(synth.app, name="synth")
app.command(name="track")(track.track)
app.command(name="live")(live.live)
app.add_typer(gallery.app, name="gallery")
app.command(name="demo")(demo.demo)
app.add_typer(eval_cmd.app, name="eval")
eval_cmd.app.command(name="mot")(eval_mot.mot)
eval_cmd.app.command(name="mtmc")(eval_mtmc.mtmc)
app.command(name="train")(train.train)
app.command(name="embed")(embed.embed)
app.add_typer(export.app, name="export")
app.add_typer(weights_cmd.app, name="weights")


def run() -> None:
    """Console-script entry: run the app; expected errors become one red line and exit code 2."""
    from reid.errors import ReidError

    _stop_on_sigterm()
    try:
        app()
    except ReidError as exc:
        if state["debug"] or "--debug" in sys.argv:
            raise
        print_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as exc:
        if exc.code == 130:  # typer turns Ctrl-C (and our SIGTERM) into a silent exit 130
            _interrupted()
        raise
    except OSError as exc:
        # a write the library did not wrap (a full disk or a read-only folder in a third-party writer)
        if state["debug"] or "--debug" in sys.argv or exc.errno not in _IO_ERRNOS:
            raise
        from reid.outputs import output_error

        print_error(output_error(exc, exc.filename or "the output", "cannot write"))
        sys.exit(2)


def _interrupted() -> None:
    print_error(RuntimeError("interrupted; finished work is kept and a rerun resumes where it stopped"))
    sys.exit(130)


_IO_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def _stop_on_sigterm() -> None:
    """SIGTERM stops a run the way Ctrl-C does: outputs are closed, status files say ``interrupted``."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding application): leave its handlers alone
        pass


if __name__ == "__main__":
    run()
