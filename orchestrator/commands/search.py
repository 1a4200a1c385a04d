"""``dcsweep search SPEC``: an Optuna search whose study resumes when run again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from orchestrator.cli_app import app
from orchestrator.options import DEFAULT_WORKDIR, AddressOption, SpecArgument, StorageOption, TrackingOption, WorkdirOption

if TYPE_CHECKING:
    from orchestrator.search import SearchOutcome

SIGNIFICANT = 4


@app.command("search")
def search(
    spec: SpecArgument,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    address: AddressOption = None,
    storage: StorageOption = None,
    tracking_uri: TrackingOption = None,
) -> None:
    """Run SPEC's Optuna search (num_samples more points); prints the best trial or the Pareto front."""
    from orchestrator.workspace import Workspace
    from orchestrator.search import run_search, study_storage

    workspace = Workspace.create(workdir, storage, tracking_uri)
    outcome = run_search(spec, workspace, address=address)
    for line in describe_best(outcome):
        typer.echo(line)
    typer.echo(f"  optuna-dashboard {study_storage(workspace)}    # the study's history and Pareto plots")


def describe_best(outcome: SearchOutcome) -> list[str]:
    """The study's best trial or Pareto front, each value named after its objective and rounded.

    Example: ``#2 acc=0.8414 (max), train_time_s=7.725 (min) | selection.epsilon=0.2188 | cdc/ours/search-1a2b/seed0``
    """
    objectives = ", ".join(f"{name} ({mode})" for name, mode in zip(outcome.metrics, outcome.modes))
    label = "Pareto front" if len(outcome.metrics) > 1 else "best trial"
    lines = [f"study has {outcome.study_trials} trials; {label} over {objectives}:"]
    for row in outcome.best:
        values = ", ".join(f"{name}={_rounded(value)}" for name, value in zip(outcome.metrics, row["values"]))
        params = ", ".join(f"{key}={_rounded(value)}" for key, value in row["params"].items())
        names = ", ".join(row["trial_names"])
        lines.append(f"  #{row['number']} {values} | {params}" + (f" | {names}" if names else ""))
    return lines


def _rounded(value: Any) -> str:
    return f"{value:.{SIGNIFICANT}g}" if isinstance(value, float) else str(value)
