"""``dcsweep ui``: the MLflow UI for a workdir, bound to 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys

import typer

from orchestrator.cli_app import app
from orchestrator.options import DEFAULT_WORKDIR, WorkdirOption
from trainables.errors import ConfigError


@app.command("ui")
def ui(
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    port: int = typer.Option(5000, "--port", help="Port on 127.0.0.1."),
) -> None:
    """Start the MLflow UI on http://127.0.0.1:PORT for WORKDIR's runs (Ctrl-C stops it)."""
    from orchestrator import tracking

    database = workdir.resolve() / "mlflow.db"
    if not database.is_file():
        raise ConfigError(f"{database} does not exist; run a sweep with `dcsweep run SPEC --workdir {workdir}` first")
    command = [
        sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", tracking.default_tracking_uri(workdir),
    ]
    typer.echo(f"MLflow UI on http://127.0.0.1:{port}")
    raise typer.Exit(subprocess.call(command))
