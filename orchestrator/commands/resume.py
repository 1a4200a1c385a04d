"""``dcsweep resume SWEEP``: continue an interrupted sweep from Ray's saved state."""

from __future__ import annotations

import typer

from orchestrator.cli_app import app
from orchestrator.launcher import Workspace, resume_sweep
from orchestrator.options import DEFAULT_WORKDIR, AddressOption, StorageOption, TrackingOption, WorkdirOption


@app.command("resume")
def resume(
    sweep: str = typer.Argument(help="The sweep name (the spec's 'name')."),
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    address: AddressOption = None,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Restore SWEEP's Tuner: unfinished trials continue from their checkpoints, finished ones are kept."""
    outcome = resume_sweep(sweep, Workspace.create(workdir, storage, tracking_uri), address=address)
    typer.echo(f"sweep {sweep}: {outcome.launched} trials in the experiment, {outcome.errored} errored")
    if outcome.unfinished:
        typer.echo(f"interrupted with {outcome.unfinished} trials unfinished; continue with `dcsweep resume <sweep name>`")
    if outcome.errored or outcome.unfinished:
        raise typer.Exit(1)
