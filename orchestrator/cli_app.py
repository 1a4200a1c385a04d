"""The ``dcsweep`` Typer application; command modules in ``orchestrator/commands`` attach to it.

Command modules import only Typer and ``orchestrator.options`` at the top; torch, Ray, MLflow and the plug-in
registries are imported inside the command that needs them, so ``dcsweep --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import os

import typer

from orchestrator.version import package_version

app = typer.Typer(
    name="dcsweep",
    help="Deep-clustering sweeps (DACHI + DSS) on Ray Tune, tracked in MLflow, searched with Optuna.",
    no_args_is_help=False,  # no command: a one-line usage error, exit 2 (orchestrator.cli)
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _print_version(requested: bool) -> None:
    if requested:
        typer.echo(f"dcsweep {package_version()}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    show_version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print dcsweep's version and exit."
    ),
) -> None:
    """Deep-clustering sweeps (DACHI + DSS) on Ray Tune, tracked in MLflow, searched with Optuna."""
    # Ray reads this when it is first imported (inside a command): forwarded worker lines are then written at once,
    # into the sweep's log file, instead of being held back and printed as a digest after the live view closed.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    # MLflow draws a progress bar for every artifact download (the spec read by status, report and resume).
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
