"""CLI options shared by the orchestrator's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

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
