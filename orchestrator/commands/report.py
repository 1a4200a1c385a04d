"""``dcsweep report SWEEP``: the sweep's mean ± std table in the terminal, and the full report folder on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from orchestrator.cli_app import app
from orchestrator.options import DEFAULT_WORKDIR, TrackingOption, WorkdirOption
from trainables.errors import DcsweepError

EpochOption = Annotated[
    Optional[str],  # noqa: UP007, UP045 (typer needs Optional here)
    typer.Option(
        "--epoch",
        help="Which epoch's metrics: last, best (by label ACC; optimistic) or early_stop. "
        "Default: the spec's report.epoch.",
    ),
]
OutOption = Annotated[
    Optional[Path],  # noqa: UP007, UP045
    typer.Option("--out", help="Report folder; default <workdir>/reports/<sweep>."),
]


@app.command("report")
def report(
    sweep: str = typer.Argument(help="The sweep name (the spec's 'name')."),
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    tracking_uri: TrackingOption = None,
    epoch: EpochOption = None,
    out: OutOption = None,
) -> None:
    """Print SWEEP's mean ± std table and write tables, significance tests and figures to its report folder."""
    from rich.console import Console

    from orchestrator.mlflow_layout import default_tracking_uri
    from reports.build import build_report, default_out_dir
    from reports.errors import ReportError
    from reports.render import to_rich
    from reports.runs import EPOCH_CHOICES

    if epoch is not None and epoch not in EPOCH_CHOICES:
        raise DcsweepError(f"--epoch must be one of {', '.join(EPOCH_CHOICES)}, but got {epoch!r}")
    uri = tracking_uri or default_tracking_uri(workdir)
    out_dir = out or default_out_dir(workdir, sweep)
    try:
        result = build_report(sweep, uri, out_dir, {"epoch": epoch} if epoch else None)
    except ReportError as error:
        raise DcsweepError(str(error)) from None
    console = Console(width=max(160, Console().width))
    console.print(to_rich(result.table))
    console.print(f"report: {result.index.resolve()}")
    if result.logged_to_run:
        console.print(f"logged to MLflow run {result.logged_to_run} under report/ ({uri})")
