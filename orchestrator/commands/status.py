"""``dcsweep status SWEEP``: the sweep's trials and their states, as recorded in MLflow."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from orchestrator import tracking
from orchestrator.cli_app import app
from orchestrator.launcher import Workspace
from orchestrator.options import DEFAULT_WORKDIR, TrackingOption, WorkdirOption
from trainables.errors import ConfigError


@app.command("status")
def status(
    sweep: str = typer.Argument(help="The sweep name (the spec's 'name')."),
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    tracking_uri: TrackingOption = None,
) -> None:
    """List SWEEP's trials with status, last epoch, acc and error."""
    workspace = Workspace.create(workdir, tracking_uri=tracking_uri)
    context = tracking.find_sweep(workspace.tracking_uri, sweep)
    if context is None:
        raise ConfigError(f"no sweep {sweep!r} in {workspace.tracking_uri}; check the name or pass --workdir")
    table = Table("trial", "status", "epoch", "acc", "error", title=f"sweep {sweep}")
    rows = sorted(tracking.trial_runs(context), key=lambda row: row["name"] or "")
    for row in rows:
        table.add_row(row["name"], row["status"], _number(row["epoch"], "{:.0f}"), _number(row["acc"], "{:.4f}"), row["error"] or "")
    Console(width=160).print(table)
    counts = {state: sum(row["status"] == state for row in rows) for state in sorted({row["status"] for row in rows})}
    typer.echo(", ".join(f"{count} {state}" for state, count in counts.items()) or "no trials yet")


def _number(value: float | None, pattern: str) -> str:
    return "" if value is None else pattern.format(value)
