"""``dcsweep status SWEEP``: the sweep's trials in the spec's order, their states and accuracy in percent."""

from __future__ import annotations

import json
from typing import Any

import typer

from orchestrator.cli_app import app
from orchestrator.options import DEFAULT_WORKDIR, TrackingOption, WorkdirOption
from trainables.errors import ConfigError

COLUMNS = ("trial", "status", "epoch", "acc_pct", "pruned_pct", "error")


@app.command("status")
def status(
    sweep: str = typer.Argument(help="The sweep name (the spec's 'name')."),
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    tracking_uri: TrackingOption = None,
    as_json: bool = typer.Option(False, "--json", help="Print the rows as a JSON list instead of a table."),
) -> None:
    """List SWEEP's trials in spec order with status, last epoch, ACC % and pruned %, and the error if any."""
    from orchestrator import tracking
    from orchestrator.workspace import Workspace

    workspace = Workspace.create(workdir, tracking_uri=tracking_uri)
    context = tracking.find_sweep(workspace.tracking_uri, sweep)
    if context is None:
        raise ConfigError(f"no sweep {sweep!r} in {workspace.tracking_uri}; check the name or pass --workdir")
    rows = status_rows(tracking.trial_runs(context), planned_order(context, workspace.workdir))
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    _print_table(sweep, rows)


def planned_order(context: Any, workdir: Any) -> list[str]:
    """The trial names of the sweep's logged spec, in the order the spec lists them (empty for a search)."""
    from orchestrator.plan import plan_trials
    from orchestrator.sweep_spec import parse_spec
    from orchestrator.tracking import read_sweep_spec
    from orchestrator.yaml_io import load_yaml

    spec = parse_spec(load_yaml(read_sweep_spec(context), source="spec.yaml"), workdir)
    return [] if spec.search is not None else [trial.name for trial in plan_trials(spec, workdir)]


def status_rows(runs: list[dict[str, Any]], order: list[str]) -> list[dict[str, Any]]:
    """One dict per trial (``COLUMNS``), in ``order``; trials the order does not name follow, by name."""
    position = {name: index for index, name in enumerate(order)}
    ranked = sorted(runs, key=lambda run: (position.get(run["name"], len(position)), run["name"] or ""))
    return [
        {
            "trial": run["name"], "status": run["status"], "epoch": _whole(run["epoch"]),
            "acc_pct": _percent(run["acc"]), "pruned_pct": _percent(run.get("pruned_frac")), "error": run["error"],
        }
        for run in ranked
    ]


def _print_table(sweep: str, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("trial", "status", "epoch", "ACC %", "pruned %", "error", title=f"sweep {sweep}")
    for row in rows:
        table.add_row(*("" if row[column] is None else str(row[column]) for column in COLUMNS))
    Console(width=160).print(table)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    typer.echo(", ".join(f"{count} {state}" for state, count in counts.items()) or "no trials yet")


def _percent(fraction: float | None) -> float | None:
    return None if fraction is None else round(100 * fraction, 2)


def _whole(value: float | None) -> int | None:
    return None if value is None else int(value)
