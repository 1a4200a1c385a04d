"""``dcsweep resume SWEEP``: continue an interrupted sweep from Ray's saved state."""

from __future__ import annotations

import typer

from orchestrator.cli_app import app
from orchestrator.options import (
    AddressOption, DEFAULT_WORKDIR, StorageOption, TrackingOption, WorkdirOption, exit_on_unfinished_work,
)


@app.command("resume")
def resume(
    sweep: str = typer.Argument(help="The sweep name (the spec's 'name')."),
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    address: AddressOption = None,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Restore SWEEP's Tuner: unfinished trials continue from their checkpoints, finished ones are kept.

    Ctrl-C (SIGINT) or SIGTERM stops it again, resumable; the exit code is then 130 or 143.
    """
    from orchestrator.launcher import resume_sweep
    from orchestrator.workspace import Workspace

    workspace = Workspace.create(workdir, storage, tracking_uri)
    outcome = resume_sweep(sweep, workspace, address=address)
    typer.echo(f"sweep {sweep}: {outcome.launched} trials in the experiment, {outcome.errored} errored")
    exit_on_unfinished_work(outcome, sweep, workspace.workdir)
