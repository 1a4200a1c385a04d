"""``dcsweep ui``: the MLflow UI for a workdir, bound to 127.0.0.1, stopped with the command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import typer

from orchestrator.cli_app import app
from orchestrator.mlflow_layout import DATABASE_FILE, default_tracking_uri
from orchestrator.options import DEFAULT_WORKDIR, WorkdirOption
from trainables.errors import ConfigError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
UI_WORKERS = 1  # one person browsing; MLflow's default of 4 server processes costs 20 s of start-up on 2 cores
JOB_EXECUTION = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"
"""MLflow's server starts a job runner and about ten Huey consumer processes for its GenAI jobs, which browsing
sweeps never uses: off unless the user's environment turns it on."""


@app.command("ui")
def ui(
    workdir: WorkdirOption = DEFAULT_WORKDIR,
    port: int = typer.Option(5000, "--port", min=1, max=65535, help="Port on 127.0.0.1."),
) -> None:
    """Start the MLflow UI on http://127.0.0.1:PORT for WORKDIR's runs; Ctrl-C or SIGTERM stops it and its workers."""
    database = workdir.resolve() / DATABASE_FILE
    if not database.is_file():
        raise ConfigError(f"{database} does not exist; run a sweep with `dcsweep run SPEC --workdir {workdir}` first")
    command = [
        sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port), "--workers", str(UI_WORKERS),
        "--backend-store-uri", default_tracking_uri(workdir),
    ]
    typer.echo(f"MLflow UI on http://127.0.0.1:{port}")
    raise typer.Exit(serve_until_stopped(command, env={JOB_EXECUTION: "false", **os.environ}))


def serve_until_stopped(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``command`` in its own process group; SIGINT or SIGTERM of this process stops the whole group.

    Returns the server's exit code, or ``128 + signal`` when this process was stopped.
    """
    server = subprocess.Popen(command, env=env, start_new_session=True)  # its own group: the server and its workers
    received: list[int] = []

    def stop(signum: int, frame: object) -> None:
        received.append(signum)
        _signal_group(server.pid, signal.SIGTERM)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        code = server.wait()
        _signal_group(server.pid, signal.SIGKILL)  # workers that outlived their server
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 + received[0] if received else code


def _signal_group(leader: int, signum: int) -> None:
    try:
        os.killpg(leader, signum)
    except ProcessLookupError:
        pass
