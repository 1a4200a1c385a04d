"""``dcsweep list WHAT``: the shipped specs, or the registered methods, datasets or strategies."""

from __future__ import annotations

from collections.abc import Callable

import typer

from orchestrator.cli_app import app
from trainables.errors import ConfigError


def _specs() -> list[str]:
    from orchestrator.sweep_spec import shipped_spec_names

    return shipped_spec_names()


def _methods() -> list[str]:
    from trainables.methods import METHODS

    return METHODS.names()


def _datasets() -> list[str]:
    from trainables.data import DATASETS

    return DATASETS.names()


def _strategies() -> list[str]:
    from trainables.plugins import INIT_STRATEGIES, SELECTION_STRATEGIES

    return [f"init.strategy: {name}" for name in INIT_STRATEGIES.names()] + [
        f"selection.strategy: {name}" for name in SELECTION_STRATEGIES.names()
    ]


LISTINGS: dict[str, Callable[[], list[str]]] = {
    "specs": _specs, "methods": _methods, "datasets": _datasets, "strategies": _strategies,
}


@app.command("list")
def list_command(what: str = typer.Argument(help=f"One of: {', '.join(LISTINGS)}.")) -> None:
    """Print the names WHAT can take in a spec, one per line (specs: names `dcsweep run` accepts)."""
    if what not in LISTINGS:
        raise ConfigError(f"cannot list {what!r}; choose one of: {', '.join(LISTINGS)}")
    for name in LISTINGS[what]():
        typer.echo(name)
