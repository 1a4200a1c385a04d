"""Entry point of the ``dcsweep`` console script: user errors become one line and exit code 2."""

from __future__ import annotations

import atexit
import importlib
import os
import pkgutil
import sys
import threading
from typing import NoReturn

import typer
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # Typer vendors its own click

from orchestrator import commands
from orchestrator.cli_app import app
from orchestrator.interrupts import Interrupted
from trainables.errors import DcsweepError

USER_ERROR = 2


def _register_commands() -> None:
    """Import every module of ``orchestrator.commands``; each attaches its command(s) to ``app``."""
    for module in pkgutil.iter_modules(commands.__path__):
        importlib.import_module(f"{commands.__name__}.{module.name}")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a non-zero code exits (every error the user can cause is one ``error: ...`` line and exit 2)."""
    code = run_cli(argv)
    if code:
        sys.exit(code)


def console() -> NoReturn:
    """The ``dcsweep`` script: ``main`` without the interpreter's teardown of torch, Ray and faiss at exit, about 3 s
    that no command needs. The exit handlers (Ray's shutdown, logging's flush) still run; while a non-daemon thread
    is still working, the exit is the normal one, which waits for it."""
    code = run_cli(None)
    working = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if working:
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_cli(argv: list[str] | None) -> int:
    """The exit code of one CLI call: the command's own, or 2 after printing a user error on one line."""
    _register_commands()
    try:
        code = app(args=argv, prog_name="dcsweep", standalone_mode=False)
    except DcsweepError as error:
        return _user_error(str(error))
    except UsageError as error:
        return _user_error(_usage_problem(error))
    except ClickException as error:
        return _user_error(error.format_message())
    except Interrupted as stop:  # a stop signal before Ray Tune ran (see orchestrator.interrupts)
        typer.echo(f"interrupted by {stop}", err=True)
        return 128 + stop.signum
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    return code if isinstance(code, int) else 0


def _usage_problem(error: UsageError) -> str:
    """``<problem>; usage: dcsweep run [OPTIONS] SPEC (see `dcsweep run --help`)``."""
    problem = "no command given" if isinstance(error, NoArgsIsHelpError) else error.format_message().rstrip(".")
    if error.ctx is None:
        return f"{problem}; see `dcsweep --help`"
    usage = error.ctx.get_usage().removeprefix("Usage:").strip()
    return f"{problem}; usage: {usage} (see `{error.ctx.command_path} --help`)"


def _user_error(message: str) -> int:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return USER_ERROR


if __name__ == "__main__":
    main()
