"""Load one sweep's trials from MLflow into tidy pandas frames (one row per trial, one row per trial epoch).

The schema is the one the orchestrator writes: an experiment ``dcsweep/<sweep>``, a parent run tagged
``dcsweep.role=sweep`` holding ``spec.yaml``, and one child run per trial tagged ``dcsweep.role=trial`` with
flattened-config params and per-epoch metrics logged with ``step=epoch``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.exceptions import MlflowException

from orchestrator.mlflow_layout import (
    EXPERIMENT_PREFIX, ROLE, SQLITE_PREFIX, TAG_PREFIX, TRIAL_KEY, TRIAL_NAME, experiment_name,
)
from reports.convergence import not_converged
from reports.errors import ReportError
from trainables.metric_names import SUMMARY_METRICS

EpochChoice = Literal["last", "best", "early_stop"]
EPOCH_CHOICES: tuple[str, ...] = ("last", "best", "early_stop")
FINISHED, FAILED = "FINISHED", "FAILED"
TRIAL_COLUMNS = [
    "run_id", "status", "trial_name", "trial_key", "arm", "seed", "error", "selected_epoch", "not_converged"
]
_TAG_COLUMNS = ("trial_name", "trial_key", "arm", "seed", "error")
_PARAMS_FROM_TAGS = ("arm", "seed")


@dataclass(frozen=True)
class SweepRuns:
    """A sweep's trials as read from MLflow.

    Attributes:
        trials: one row per trial: ``TRIAL_COLUMNS`` (``not_converged`` as ``convergence.not_converged`` judges
            the whole logged history), then the params (dotted keys, numbers parsed), then the
            metrics at the chosen epoch (fractions as logged) plus ``mean_pruned_frac`` (mean over epochs up to it).
        histories: one row per (``run_id``, ``epoch``) of every trial, a column per per-epoch metric.
        param_columns: the param columns of ``trials``, in order.
        metric_columns: the metric columns of ``trials``, in order.
        spec: the resolved sweep spec from the parent run's ``spec.yaml`` (empty when it has none).
    """

    sweep: str
    tracking_uri: str
    parent_run_id: str | None
    epoch: EpochChoice
    spec: dict[str, Any]
    trials: pd.DataFrame
    histories: pd.DataFrame
    param_columns: list[str]
    metric_columns: list[str]

    @property
    def finished(self) -> pd.DataFrame:
        """The trials whose run ended FINISHED."""
        return self.trials[self.trials["status"] == FINISHED]


def load_sweep(sweep: str, tracking_uri: str, epoch: EpochChoice | None = None) -> SweepRuns:
    """Read every trial of ``sweep`` with its metrics at ``epoch`` (``last``, ``best`` by ACC or ``early_stop``).

    ``epoch=None`` takes the spec's ``report.epoch``, else ``last``.

    Raises:
        ReportError: the database does not exist, no sweep has that name, or it has no finished trial.
    """
    _require_database(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name(sweep))
    if experiment is None:
        known = ", ".join(known_sweeps(client)) or "none"
        raise ReportError(f"no sweep named {sweep!r} in {tracking_uri}; known sweeps: {known}")
    parent = _parent_run(client, experiment.experiment_id)
    spec = _read_spec(client, parent) if parent else {}
    epoch = epoch or (spec.get("report") or {}).get("epoch", "last")
    if epoch not in EPOCH_CHOICES:
        raise ReportError(f"epoch must be one of {', '.join(EPOCH_CHOICES)}, but got {epoch!r}; pass one of those")
    runs = _search_all(client, experiment.experiment_id, f"tags.`{ROLE}` = 'trial'")
    runs = _one_run_per_trial(runs)
    histories = pd.concat([_history(client, run) for run in runs], ignore_index=True) if runs else pd.DataFrame()
    rows = [_trial_row(run, histories, epoch) for run in runs]
    trials = _parse_numbers(pd.DataFrame(rows))
    if trials.empty or not (trials["status"] == FINISHED).any():
        raise ReportError(_no_finished_message(sweep, trials))
    param_columns = [c for c in trials.columns if c.startswith("param:")]
    metric_columns = [c for c in trials.columns if c not in TRIAL_COLUMNS and c not in param_columns]
    trials = trials.rename(columns={c: c.removeprefix("param:") for c in param_columns})
    return SweepRuns(
        sweep=sweep,
        tracking_uri=tracking_uri,
        parent_run_id=parent.info.run_id if parent else None,
        epoch=epoch,
        spec=spec,
        trials=trials,
        histories=histories,
        param_columns=[c.removeprefix("param:") for c in param_columns],
        metric_columns=metric_columns,
    )


def known_sweeps(client: MlflowClient) -> list[str]:
    """Names of the sweeps recorded under ``client``'s tracking URI, sorted."""
    experiments = client.search_experiments(filter_string=f"name LIKE '{EXPERIMENT_PREFIX}%'")
    return sorted(e.name.removeprefix(EXPERIMENT_PREFIX) for e in experiments)


def _require_database(tracking_uri: str) -> None:
    """Refuse a sqlite URI whose file is missing, so that a typo does not create an empty database."""
    if tracking_uri.startswith(SQLITE_PREFIX):
        path = Path(tracking_uri.removeprefix(SQLITE_PREFIX))
        if not path.is_file():
            raise ReportError(
                f"no MLflow database at {path}; pass --workdir of a folder where `dcsweep run` has written runs "
                "or --tracking-uri of the tracking server"
            )


def _search_all(client: MlflowClient, experiment_id: str, filter_string: str) -> list[Run]:
    """Every run matching ``filter_string``, following MLflow's pagination."""
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=filter_string, max_results=1000, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _one_run_per_trial(runs: list[Run]) -> list[Run]:
    """Keep one run per ``dcsweep.trial_key``: a FINISHED one if any, else the most recently started."""
    ranked = sorted(runs, key=lambda r: (r.info.status == FINISHED, r.info.start_time or 0), reverse=True)
    chosen: dict[str, Run] = {}
    for run in ranked:
        chosen.setdefault(run.data.tags.get(TRIAL_KEY, run.info.run_id), run)
    return sorted(chosen.values(), key=lambda r: r.data.tags.get(TRIAL_NAME, r.info.run_id))


def _history(client: MlflowClient, run: Run) -> pd.DataFrame:
    """The per-epoch metrics of ``run``: one row per epoch (the step; the ``epoch`` metric repeats it), a column
    per metric; when an epoch was logged twice (a resumed trial), the last write wins."""
    records = [
        (m.step, m.timestamp, key, m.value)
        for key in run.data.metrics
        if key not in SUMMARY_METRICS and key != "epoch"
        for m in client.get_metric_history(run.info.run_id, key)
    ]
    if not records:
        return pd.DataFrame({"run_id": pd.Series(dtype=str), "epoch": pd.Series(dtype=int)})
    long = pd.DataFrame(records, columns=["epoch", "timestamp", "metric", "value"]).sort_values("timestamp")
    wide = long.pivot_table(index="epoch", columns="metric", values="value", aggfunc="last").sort_index()
    wide.columns.name = None
    wide = wide.reset_index()
    wide.insert(0, "run_id", run.info.run_id)
    return wide


def _select_epoch(history: pd.DataFrame, summary: dict[str, float], epoch: EpochChoice) -> int | None:
    """The epoch whose metrics represent the trial: the last one, the best by ACC, or ``stop_epoch``."""
    if history.empty:
        return None
    if epoch == "best" and "acc" in history and history["acc"].notna().any():
        return int(history.loc[history["acc"].idxmax(), "epoch"])
    if epoch == "early_stop" and "stop_epoch" in summary:
        return int(summary["stop_epoch"])
    return int(history["epoch"].max())


def _metrics_at(history: pd.DataFrame, selected: int | None) -> dict[str, float]:
    """Each metric's latest value at or before epoch ``selected``, plus ``mean_pruned_frac`` up to it."""
    if selected is None:
        return {}
    upto = history[history["epoch"] <= selected].drop(columns=["run_id"])
    if upto.empty:
        return {}
    values = upto.ffill().iloc[-1].drop(labels="epoch").to_dict()
    if "pruned_frac" in upto:
        values["mean_pruned_frac"] = float(upto["pruned_frac"].mean())
    return values


def _trial_row(run: Run, histories: pd.DataFrame, epoch: EpochChoice) -> dict[str, Any]:
    """One row of ``SweepRuns.trials`` for ``run``."""
    tags = run.data.tags
    history = histories[histories["run_id"] == run.info.run_id] if not histories.empty else histories
    summary = {k: v for k, v in run.data.metrics.items() if k in SUMMARY_METRICS}
    selected = _select_epoch(history, summary, epoch)
    row: dict[str, Any] = {"run_id": run.info.run_id, "status": run.info.status}
    row.update({name: tags.get(TAG_PREFIX + name) for name in _TAG_COLUMNS})
    row["selected_epoch"] = selected
    row["not_converged"] = bool(not history.empty and not_converged(history))
    row.update({f"param:{k}": v for k, v in run.data.params.items() if k not in _PARAMS_FROM_TAGS})
    row.update(_metrics_at(history, selected))
    row.update(summary)
    return row


def _parse_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn every string column whose non-missing values all parse as numbers into a numeric column."""
    for column in frame.columns:
        is_text = pd.api.types.is_object_dtype(frame[column]) or pd.api.types.is_string_dtype(frame[column])
        if is_text and column not in ("run_id", "trial_key"):
            present = frame[column].dropna()
            parsed = pd.to_numeric(present, errors="coerce")
            if len(present) and parsed.notna().all():
                frame[column] = pd.to_numeric(frame[column])
    return frame


def _no_finished_message(sweep: str, trials: pd.DataFrame) -> str:
    """One sentence saying that ``sweep`` has nothing to report yet, with its failures."""
    if trials.empty:
        return f"sweep {sweep!r} has no trial runs yet; run `dcsweep run {sweep}` first"
    counts = ", ".join(f"{n} {status.lower()}" for status, n in trials["status"].value_counts().items())
    failed = trials[trials["status"] == FAILED]
    first = f"; first failure: {failed.iloc[0]['trial_name']}: {failed.iloc[0]['error']}" if len(failed) else ""
    return (
        f"sweep {sweep!r} has no finished trials ({counts}{first}); "
        f"fix the failures and re-run `dcsweep run {sweep}`, which resumes the sweep"
    )


def _parent_run(client: MlflowClient, experiment_id: str) -> Run | None:
    """The sweep's parent run (tag ``dcsweep.role=sweep``), or None if the writer made none."""
    runs = _search_all(client, experiment_id, f"tags.`{ROLE}` = 'sweep'")
    return max(runs, key=lambda r: r.info.start_time or 0) if runs else None


def _read_spec(client: MlflowClient, parent: Run) -> dict[str, Any]:
    """The parent run's ``spec.yaml`` as a dict; empty when the artifact is absent."""
    with tempfile.TemporaryDirectory() as tmp, _quiet_downloads():
        try:
            path = client.download_artifacts(parent.info.run_id, "spec.yaml", dst_path=tmp)
        except (MlflowException, OSError):
            return {}
        spec = yaml.safe_load(Path(path).read_text())
    return spec if isinstance(spec, dict) else {}


@contextmanager
def _quiet_downloads() -> Iterator[None]:
    """Switch off MLflow's artifact progress bar (its own env setting) while a download runs."""
    name = MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.name
    before = os.environ.get(name)
    os.environ[name] = "false"
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before
