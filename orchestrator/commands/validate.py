"""``dcsweep validate SPEC``: check a sweep spec and list its trials without running anything."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli_app import app
from orchestrator.options import DEFAULT_WORKDIR, SpecArgument, WorkdirOption


@app.command("validate")
def validate(
    spec: SpecArgument,
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    check_env: Annotated[
        bool, typer.Option(
            "--check-env", help="Also check this machine: checkpoint/data paths exist, each dataset opens, the GPUs and "
            "train.device are there."
        )
    ] = False,
) -> None:
    """Validate SPEC (schema, keys, every trial's config); exit 2 with one message if it is invalid."""
    from orchestrator.environment import check_datasets, check_devices, check_local_gpus, check_paths
    from orchestrator.workspace import Workspace
    from orchestrator.plan import plan_search, plan_trials
    from orchestrator.sweep_spec import load_spec
    from trainables.plugins import selection_warnings

    sweep = load_spec(spec, Workspace.create(workdir).workdir)
    trials = plan_trials(sweep, workdir) if sweep.search is None else []
    if sweep.search is not None:
        plan_search(sweep, workdir)
    if check_env:
        check_paths(trials)
        check_local_gpus(sweep.resources)
        check_devices(trials)
        check_datasets(trials)
    for line in selection_warnings(trial.trial_config for trial in trials):  # only for a valid spec
        typer.echo(f"warning: {line}", err=True)
    count = f"{len(trials)} trials" if sweep.search is None else f"a search of {sweep.search.num_samples} samples"
    typer.echo(f"{sweep.name}: valid, {count}")
    for trial in trials:
        typer.echo(f"  {trial.name}")
