"""The ``dcsweep`` Typer application; command modules in ``orchestrator/commands`` attach to it."""

import typer

app = typer.Typer(
    name="dcsweep",
    help="Deep-clustering sweeps (DACHI + DSS) on Ray Tune, tracked in MLflow, searched with Optuna.",
    no_args_is_help=False,  # no command: a one-line usage error, exit 2 (orchestrator.cli)
    add_completion=False,
    pretty_exceptions_enable=False,
)
