"""Every MLflow call of dcsweep: one parent run per sweep, one child run per trial, found again by tags.

Schema (its names in ``orchestrator.mlflow_layout``, shared with ``reports``): experiment ``dcsweep/<sweep>``;
parent run named after the sweep with tags ``dcsweep.role=sweep``, ``dcsweep.sweep_id``, ``dcsweep.spec_hash``,
``dcsweep.code_version`` and the artifact ``spec.yaml``; child runs tagged ``mlflow.parentRunId``,
``dcsweep.role=trial``, ``dcsweep.sweep_id``, ``dcsweep.trial_name``, ``dcsweep.trial_key``, ``dcsweep.arm``,
``dcsweep.seed`` (and ``dcsweep.error`` when failed), params = flattened TrialConfig + ``arm`` + ``seed``, metrics
per epoch with ``step=epoch``, and the artifacts ``predictions.npz`` and ``curve.csv``. ``dcsweep.node_id`` names
the Ray node of the latest attempt.

Idempotence: a trial's run is looked up by (sweep id, trial key) before one is created, so a retried or
restored trial continues its run, and epochs already logged are not logged again (no duplicate steps).
"""

from __future__ import annotations

import csv
import html
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from orchestrator.locks import held_lock
from orchestrator.mlflow_layout import (
    ARM,
    CODE_VERSION,
    ERROR,
    LAST_EPOCH,
    NODE_ID,
    PARENT,
    PREDICTIONS_FILE,
    ROLE,
    SEED,
    SPEC_HASH,
    SQLITE_PREFIX,
    SWEEP_ID,
    TRIAL_KEY,
    TRIAL_NAME,
    experiment_name,
)
from orchestrator.mlflow_template import create_migrated_store
from trainables.metric_names import STOP_EPOCH, TOTAL_TRAIN_TIME

MAX_TAG_CHARS = 5000
EPOCH = "epoch"  # the step of every per-epoch metric, never a metric itself
UNLOGGED_PARAMS = ("cache_dir",)  # where the feature cache lives says nothing about the trial
SUMMARY_TABLE_METRICS = ("acc", "nmi", "ari", "pruned_frac", TOTAL_TRAIN_TIME)  # the arms summary's columns
BATCH = 100
LOCAL_BACKEND_SCHEMES = ("", "file", "sqlite")


def is_local_backend(tracking_uri: str) -> bool:
    """True for a backend only this machine can reach (a sqlite file or a folder), False for a tracking server."""
    return urlparse(tracking_uri).scheme in LOCAL_BACKEND_SCHEMES


@dataclass(frozen=True)
class SweepContext:
    """What a trial needs to find its sweep in MLflow; small and picklable, it travels to Ray workers."""

    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    sweep_id: str


def prepare_store(tracking_uri: str) -> None:
    """Create and migrate an sqlite store once, under a file lock next to it, before any trial opens it.

    MLflow migrates an empty sqlite database when a process first opens it; two processes doing so at once race
    (alembic's "duplicate column"). A new database starts as a copy of a migrated one (``mlflow_template``).
    A server URI is left alone: its server migrates.
    """
    if not tracking_uri.startswith(SQLITE_PREFIX):
        return
    database = Path(tracking_uri.removeprefix(SQLITE_PREFIX))
    with held_lock(database.with_name(f"{database.name}.lock")):
        if not database.exists():
            create_migrated_store(database)
        MlflowClient(tracking_uri).search_experiments(max_results=1)


def open_sweep(tracking_uri: str, artifact_root: Path, sweep_id: str, spec_hash: str, spec_yaml: str) -> SweepContext:
    """Create or reuse the experiment and the sweep's parent run (set RUNNING), and log the resolved spec.

    Artifacts go under ``artifact_root`` with a local backend; a tracking server keeps them where it was told to
    (``--artifacts-destination``), so that trials on other nodes upload through it rather than to this disk.
    """
    prepare_store(tracking_uri)
    client = MlflowClient(tracking_uri)
    name = experiment_name(sweep_id)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = artifact_root.resolve().as_uri() if is_local_backend(tracking_uri) else None
        experiment_id = client.create_experiment(name, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    parent = _find_run(client, experiment_id, {ROLE: "sweep", SWEEP_ID: sweep_id})
    if parent is None:
        run_id = client.create_run(experiment_id, run_name=sweep_id, tags={ROLE: "sweep", SWEEP_ID: sweep_id}).info.run_id
    else:
        run_id = parent.info.run_id
        client.update_run(run_id, status="RUNNING")
    client.log_batch(run_id, tags=[RunTag(SPEC_HASH, spec_hash), RunTag(CODE_VERSION, code_version())])
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "spec.yaml"
        path.write_text(spec_yaml)
        client.log_artifact(run_id, str(path))
    return SweepContext(tracking_uri, experiment_id, run_id, sweep_id)


def find_sweep(tracking_uri: str, sweep_id: str) -> SweepContext | None:
    """The context of an existing sweep, or None when MLflow has no parent run for it (no database is created)."""
    if tracking_uri.startswith(SQLITE_PREFIX) and not Path(tracking_uri.removeprefix(SQLITE_PREFIX)).is_file():
        return None
    prepare_store(tracking_uri)
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name(sweep_id))
    if experiment is None:
        return None
    parent = _find_run(client, experiment.experiment_id, {ROLE: "sweep", SWEEP_ID: sweep_id})
    if parent is None:
        return None
    return SweepContext(tracking_uri, experiment.experiment_id, parent.info.run_id, sweep_id)


def read_sweep_spec(context: SweepContext) -> str:
    """The resolved ``spec.yaml`` logged on the parent run."""
    with tempfile.TemporaryDirectory() as scratch:
        path = MlflowClient(context.tracking_uri).download_artifacts(context.parent_run_id, "spec.yaml", scratch)
        return Path(path).read_text()


def close_sweep(context: SweepContext, status: str) -> None:
    """End the parent run with ``status``: FINISHED, FAILED, or KILLED when interrupted (a resume reopens it)."""
    MlflowClient(context.tracking_uri).set_terminated(context.parent_run_id, status)


def trial_runs(context: SweepContext) -> list[dict[str, Any]]:
    """One row per child run: name, key, arm, seed, status, last epoch and acc, error."""
    client = MlflowClient(context.tracking_uri)
    runs = client.search_runs(
        [context.experiment_id],
        filter_string=f"tags.`{ROLE}` = 'trial' and tags.`{SWEEP_ID}` = '{context.sweep_id}'",
        max_results=50000,
    )
    return [
        {
            "name": run.data.tags.get(TRIAL_NAME), "key": run.data.tags.get(TRIAL_KEY),
            "arm": run.data.tags.get(ARM), "seed": run.data.tags.get(SEED), "status": run.info.status,
            "epoch": _last_epoch(run), "acc": run.data.metrics.get("acc"),
            "pruned_frac": run.data.metrics.get("pruned_frac"),
            "error": run.data.tags.get(ERROR), "run_id": run.info.run_id,
        }
        for run in runs
    ]


def finished_trial_keys(context: SweepContext) -> set[str]:
    """Trial keys whose child run is FINISHED: a re-run of the sweep skips them."""
    return {row["key"] for row in trial_runs(context) if row["status"] == "FINISHED"}


class TrialRun:
    """The child run of one trial, created on first use and reopened by id on every retry or restore."""

    def __init__(self, client: MlflowClient, run_id: str, status: str) -> None:
        self._client = client
        self.run_id = run_id
        self.status = status

    @classmethod
    def open(cls, context: SweepContext, name: str, key: str, arm: str, seed: int, params: Mapping[str, Any]) -> TrialRun:
        """Find the trial's run by (sweep id, trial key) or create it; an unfinished run is set RUNNING."""
        client = MlflowClient(context.tracking_uri)
        found = _find_run(client, context.experiment_id, {ROLE: "trial", SWEEP_ID: context.sweep_id, TRIAL_KEY: key})
        if found is not None and found.info.status == "FINISHED":
            return cls(client, found.info.run_id, "FINISHED")
        if found is None:
            tags = {
                PARENT: context.parent_run_id, ROLE: "trial", SWEEP_ID: context.sweep_id, TRIAL_NAME: name,
                TRIAL_KEY: key, ARM: arm, SEED: str(seed),
            }
            run_id = client.create_run(context.experiment_id, run_name=name, tags=tags).info.run_id
            all_params = [Param(k, str(v)) for k, v in _loggable_params({**params, "arm": arm, "seed": seed}).items()]
            for start in range(0, len(all_params), BATCH):
                client.log_batch(run_id, params=all_params[start : start + BATCH])
        else:
            run_id = found.info.run_id
            client.update_run(run_id, status="RUNNING")
            if ERROR in found.data.tags:
                client.delete_tag(run_id, ERROR)
        return cls(client, run_id, "RUNNING")

    @property
    def is_finished(self) -> bool:
        return self.status == "FINISHED"

    def record_node(self, node_id: str) -> None:
        """Tag the run with the Ray node this attempt runs on (a retry on another node overwrites it)."""
        self._client.set_tag(self.run_id, NODE_ID, node_id)

    def last_logged_epoch(self) -> int:
        """The highest epoch already logged (0 if none): a resumed trial skips epochs up to it."""
        return _last_epoch(self._client.get_run(self.run_id))

    def latest_metrics(self) -> dict[str, float]:
        """The run's latest value of every metric."""
        return dict(self._client.get_run(self.run_id).data.metrics)

    def log_epoch(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Log one epoch's row with ``step=epoch`` (the epoch is the step, not a metric); None values are left out."""
        self._log_metrics({key: value for key, value in metrics.items() if key != EPOCH}, step=epoch, last_epoch=epoch)

    def finish(self, final: Mapping[str, Any], curve: list[dict[str, Any]], predictions: Mapping[str, np.ndarray]) -> None:
        """Log the final scalars, ``predictions.npz`` and ``curve.csv``, and end the run FINISHED."""
        self._log_metrics(final, step=int(final.get(STOP_EPOCH, 0)))
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            np.savez_compressed(folder / PREDICTIONS_FILE, **predictions)
            _write_csv(folder / "curve.csv", curve)
            self._client.log_artifacts(self.run_id, str(folder))
        self._client.set_terminated(self.run_id, "FINISHED")
        self.status = "FINISHED"

    def end_stopped(self, epoch: int) -> None:
        """End a run that was stopped early, FINISHED with ``stop_epoch`` = its last epoch (no artifacts)."""
        self._log_metrics({STOP_EPOCH: epoch}, step=epoch)
        self._client.set_terminated(self.run_id, "FINISHED")
        self.status = "FINISHED"

    def fail(self, error: BaseException | str) -> None:
        """End the run FAILED with the error message as the ``dcsweep.error`` tag."""
        message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._client.set_tag(self.run_id, ERROR, " ".join(message.split())[:MAX_TAG_CHARS])
        self._client.set_terminated(self.run_id, "FAILED")
        self.status = "FAILED"

    def _log_metrics(self, values: Mapping[str, Any], step: int, last_epoch: int | None = None) -> None:
        """Log ``values`` at ``step`` in batches; ``last_epoch`` also updates the LAST_EPOCH tag in the first batch."""
        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for key, value in values.items() if value is not None]
        tags = [] if last_epoch is None else [RunTag(LAST_EPOCH, str(last_epoch))]
        for start in range(0, max(len(metrics), 1), BATCH):
            self._client.log_batch(self.run_id, metrics=metrics[start : start + BATCH], tags=tags if start == 0 else [])


def code_version() -> str:
    """The git commit of the checkout dcsweep runs from, else the installed package version."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        return sha or _package_version()
    except (OSError, subprocess.SubprocessError):
        return _package_version()


def _package_version() -> str:
    from orchestrator.version import package_version

    return package_version()


def _find_run(client: MlflowClient, experiment_id: str, tags: Mapping[str, str]):
    clauses = " and ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
    runs = client.search_runs([experiment_id], filter_string=clauses, max_results=2, order_by=["attributes.start_time ASC"])
    return runs[0] if runs else None


def _loggable_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The params worth showing: unset (None) values and bookkeeping such as the cache folder are left out."""
    return {key: value for key, value in params.items() if value is not None and key not in UNLOGGED_PARAMS}


def _last_epoch(run: Any) -> int:
    """The highest epoch a run has logged (0 if none), from its LAST_EPOCH tag."""
    return int(run.data.tags.get(LAST_EPOCH, 0))


def _write_csv(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    rows = list(rows)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def fail_unfinished_trial(context: SweepContext, key: str, reason: str) -> None:
    """End a trial's run FAILED with ``reason`` unless it already ended (used when a worker died)."""
    client = MlflowClient(context.tracking_uri)
    found = _find_run(client, context.experiment_id, {ROLE: "trial", SWEEP_ID: context.sweep_id, TRIAL_KEY: key})
    if found is not None and found.info.status == "RUNNING":
        TrialRun(client, found.info.run_id, "RUNNING").fail(reason)


def kill_running_trials(context: SweepContext) -> int:
    """End every trial run still RUNNING as KILLED (the sweep was interrupted); returns how many.

    A resumed trial reopens its run (``TrialRun.open`` sets it RUNNING again).
    """
    client = MlflowClient(context.tracking_uri)
    running = [row for row in trial_runs(context) if row["status"] == "RUNNING"]
    for row in running:
        client.set_terminated(row["run_id"], "KILLED")
    return len(running)


def finish_stopped_trial(context: SweepContext, key: str) -> None:
    """End a trial's run FINISHED if it is still RUNNING after Ray completed it (a scheduler stopped it early)."""
    client = MlflowClient(context.tracking_uri)
    found = _find_run(client, context.experiment_id, {ROLE: "trial", SWEEP_ID: context.sweep_id, TRIAL_KEY: key})
    if found is not None and found.info.status == "RUNNING":
        TrialRun(client, found.info.run_id, "RUNNING").end_stopped(_last_epoch(found))


def trial_run_id(context: SweepContext, key: str) -> str | None:
    """The MLflow run id of the trial with ``key``, or None before its worker created the run."""
    client = MlflowClient(context.tracking_uri)
    found = _find_run(client, context.experiment_id, {ROLE: "trial", SWEEP_ID: context.sweep_id, TRIAL_KEY: key})
    return None if found is None else found.info.run_id


def log_arm_summary(context: SweepContext) -> list[dict[str, Any]]:
    """Log on the parent run the mean and std over seeds of each arm's final metrics, and the table as artifacts.

    An arm is a trial name without its seed (``cdc/ours/digits``); metrics are named ``<metric>_mean/<arm>`` and
    ``<metric>_std/<arm>`` (characters MLflow refuses, such as ``+``, are spelled out), the table is
    ``summary/arms.md`` and ``summary/arms.html``. Only FINISHED trials count. Returns the table's rows.
    """
    client = MlflowClient(context.tracking_uri)
    groups: dict[str, list[dict[str, float]]] = {}
    for run in _finished_trial_runs(client, context):
        name = run.data.tags.get(TRIAL_NAME, "")
        groups.setdefault(name.rsplit("/seed", 1)[0], []).append(run.data.metrics)
    rows = [_arm_row(arm, metrics) for arm, metrics in groups.items()]
    values = {
        f"{metric}_{stat}/{_metric_safe(row['arm'])}": row[metric][index]
        for row in rows for metric in SUMMARY_TABLE_METRICS if metric in row
        for index, stat in enumerate(("mean", "std"))
    }
    now = int(time.time() * 1000)
    metrics = [Metric(key, value, now, 0) for key, value in values.items()]
    for start in range(0, len(metrics), BATCH):
        client.log_batch(context.parent_run_id, metrics=metrics[start : start + BATCH])
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "arms.md").write_text(_markdown_table(rows))
        (folder / "arms.html").write_text(_html_table(rows))
        client.log_artifacts(context.parent_run_id, str(folder), artifact_path="summary")
    return rows


def _finished_trial_runs(client: MlflowClient, context: SweepContext) -> list[Any]:
    trials = f"tags.`{ROLE}` = 'trial' and tags.`{SWEEP_ID}` = '{context.sweep_id}'"
    return client.search_runs(
        [context.experiment_id], filter_string=f"{trials} and attributes.status = 'FINISHED'", max_results=50000,
        order_by=["attributes.start_time ASC"],
    )


def _arm_row(arm: str, runs: list[Mapping[str, float]]) -> dict[str, Any]:
    """``{"arm", "n", <metric>: (mean, std)}`` with the sample std (ddof=1; 0 for one seed)."""
    row: dict[str, Any] = {"arm": arm, "n": len(runs)}
    for metric in SUMMARY_TABLE_METRICS:
        values = np.array([run[metric] for run in runs if metric in run], dtype=float)
        if values.size:
            row[metric] = (float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0)
    return row


def _metric_safe(name: str) -> str:
    """An arm name as MLflow accepts it in a metric name: ``cdc/+DACHI`` -> ``cdc/plus_DACHI``."""
    return re.sub(r"[^/\w.\- ]", "_", name.replace("+", "plus_"))


def _table_cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    metrics = [metric for metric in SUMMARY_TABLE_METRICS if any(metric in row for row in rows)]
    cells = [
        [row["arm"], str(row["n"]), *(f"{row[m][0]:.4f} ± {row[m][1]:.4f}" if m in row else "" for m in metrics)]
        for row in rows
    ]
    return ["arm", "n", *metrics], cells


def _markdown_table(rows: list[dict[str, Any]]) -> str:
    header, cells = _table_cells(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in cells)]) + "\n"


def _html_table(rows: list[dict[str, Any]]) -> str:
    header, cells = _table_cells(rows)
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in cells)
    caption = "Final metrics per arm: mean ± std over seeds (finished trials only)"
    return f"<table border='1'><caption>{caption}</caption><tr>{head}</tr>{body}</table>\n"
