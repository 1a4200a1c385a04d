"""CLI options shared by the orchestrator's commands."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from orchestrator.launcher import SweepOutcome

WorkdirOption = Annotated[
    Path,
    typer.Option(
        "--workdir", envvar="DCSWEEP_WORKDIR",
        help="Holds mlflow.db, mlartifacts/, ray_results/, the feature cache and optuna.db.",
    ),
]
AddressOption = Annotated[
    Optional[str],  # noqa: UP007 (typer needs Optional here)
    typer.Option("--address", help="Join an existing Ray cluster ('auto' or 'ray://host:10001') instead of a local Ray."),
]
StorageOption = Annotated[
    Optional[str],  # noqa: UP007
    typer.Option("--storage", help="Ray storage (shared path or URI); required on a multi-node cluster."),
]
TrackingOption = Annotated[
    Optional[str],  # noqa: UP007
    typer.Option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", help="MLflow server URI; default sqlite:///<workdir>/mlflow.db."),
]
SpecArgument = Annotated[str, typer.Argument(help="A spec path or a shipped spec name such as quickstart or paper/table3_ablation.")]
DEFAULT_WORKDIR = Path("runs")


def exit_on_unfinished_work(outcome: SweepOutcome, sweep: str, workdir: Path) -> None:
    """After a launch: name the unfinished trials and how to resume, then exit.

    Exit codes: ``128 + signal`` when SIGINT (130) or SIGTERM (143) interrupted the driver, 1 when a trial errored
    or is unfinished, else 0 (by returning).
    """
    if outcome.unfinished or outcome.interrupted_by is not None:
        cause = "" if outcome.interrupted_by is None else f" by {signal.Signals(outcome.interrupted_by).name}"
        typer.echo(
            f"interrupted{cause} with {outcome.unfinished} trials unfinished; continue with "
            f"`dcsweep resume {sweep} --workdir {workdir}`"
        )
    if outcome.interrupted_by is not None:
        raise typer.Exit(128 + outcome.interrupted_by)
    if outcome.errored or outcome.unfinished:
        raise typer.Exit(1)
