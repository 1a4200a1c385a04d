"""``dcsweep search SPEC``: an Optuna search whose study resumes when run again."""

from __future__ import annotations

import typer

from orchestrator.cli_app import app
from orchestrator.launcher import Workspace
from orchestrator.options import DEFAULT_WORKDIR, AddressOption, SpecArgument, StorageOption, TrackingOption, WorkdirOption
from orchestrator.search import run_search


@app.command("search")
def search(
    spec: SpecArgument,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    address: AddressOption = None,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Run SPEC's Optuna search (num_samples more points); prints the best trial or the Pareto front."""
    outcome = run_search(spec, Workspace.create(workdir, storage, tracking_uri), address=address)
    label = "Pareto front" if outcome.best and len(outcome.best[0]["values"]) > 1 else "best trial"
    typer.echo(f"study has {outcome.study_trials} trials; {label}:")
    for row in outcome.best:
        values = ", ".join(f"{value:.4g}" for value in row["values"])
        params = ", ".join(f"{key}={value}" for key, value in row["params"].items())
        typer.echo(f"  #{row['number']}: [{values}] {params}")
