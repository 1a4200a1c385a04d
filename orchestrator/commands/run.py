"""``dcsweep run SPEC``: launch a sweep on Ray Tune, tracked in MLflow."""

from __future__ import annotations

import typer

from orchestrator.cli_app import app
from orchestrator.options import (
    AddressOption, DEFAULT_WORKDIR, SpecArgument, StorageOption, TrackingOption, WorkdirOption,
    exit_on_unfinished_work,
)


@app.command("run")
def run(
    spec: SpecArgument,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    address: AddressOption = None,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Run every trial of SPEC (grid x arms x seeds); trials already finished in this workdir are skipped.

    Ctrl-C (SIGINT) or SIGTERM stops the sweep, resumable with `dcsweep resume`; the exit code is then 130 or 143.
    """
    from orchestrator.launcher import run_sweep
    from orchestrator.workspace import Workspace

    workspace = Workspace.create(workdir, storage, tracking_uri)
    outcome = run_sweep(spec, workspace, address=address)
    typer.echo(f"launched {outcome.launched} trials, skipped {outcome.skipped} finished, {outcome.errored} errored")
    exit_on_unfinished_work(outcome, outcome.sweep_id, workspace.workdir)
