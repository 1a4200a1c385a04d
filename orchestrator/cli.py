"""Entry point of the ``dcsweep`` console script: user errors become one line and exit code 2."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from orchestrator import commands
from orchestrator.cli_app import app
from trainables.errors import DcsweepError


def _register_commands() -> None:
    """Import every module of ``orchestrator.commands``; each attaches its command(s) to ``app``."""
    for module in pkgutil.iter_modules(commands.__path__):
        importlib.import_module(f"{commands.__name__}.{module.name}")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a DcsweepError prints ``error: <message>`` and exits 2."""
    _register_commands()
    try:
        app(args=argv, standalone_mode=False)
    except DcsweepError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
