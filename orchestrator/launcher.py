"""Launching a sweep on Ray Tune (``dcsweep run``) and restoring an interrupted one (``dcsweep resume``).

Ray Tune schedules the trials (a grid search over the planned trials); each trial logs to its MLflow child
run, and trials already FINISHED in MLflow are left out of a re-run of the same sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from ray import tune

from orchestrator import tracking
from orchestrator.cluster import check_cluster_storage, start_ray
from orchestrator.environment import check_local_gpus, check_paths
from orchestrator.plan import PlannedTrial, plan_trials
from orchestrator.spec import SweepSpec, load_spec, parse_spec
from orchestrator.trainable import build_trainable, resolve_trial, trial_dirname
from orchestrator.yaml_io import dump_yaml, load_yaml
from trainables.errors import ConfigError
from trainables.plugins import selection_warnings


@dataclass(frozen=True)
class Workspace:
    """Where a sweep keeps its state: the workdir, Ray's storage and the MLflow backend."""

    workdir: Path
    storage: str
    tracking_uri: str
    storage_is_shared: bool = False

    @classmethod
    def create(cls, workdir: Path, storage: str | None = None, tracking_uri: str | None = None) -> Workspace:
        workdir = workdir.resolve()
        return cls(
            workdir=workdir,
            storage=storage or str(workdir / "ray_results"),
            tracking_uri=tracking_uri or tracking.default_tracking_uri(workdir),
            storage_is_shared=storage is not None,
        )

    @property
    def artifact_root(self) -> Path:
        return self.workdir / "mlartifacts"

    def experiment_path(self, sweep_id: str) -> str:
        return f"{self.storage.rstrip('/')}/{sweep_id}"


@dataclass(frozen=True)
class SweepOutcome:
    """How a launch ended: trials run now, skipped as already finished, errored, and left unfinished (interrupted)."""

    launched: int
    skipped: int
    errored: int
    unfinished: int = 0


class TrackingCallback(tune.Callback):
    """Driver-side Tune callback: a trial's MLflow run ends even when its worker could not end it.

    A trial that Ray gives up on (e.g. its worker was killed more than ``max_failures`` times) ends FAILED; a trial
    a scheduler such as ASHA stopped early ends FINISHED at its last logged epoch.
    """

    def __init__(self, context: tracking.SweepContext) -> None:
        self._context = context

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        planned = resolve_trial(trial.config)
        reason = f"Ray gave up on trial {planned.name} after its retries; see {trial.path or 'the Ray logs'}"
        tracking.fail_unfinished_trial(self._context, planned.key, reason)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        tracking.finish_stopped_trial(self._context, resolve_trial(trial.config).key)


def prepare_sweep(ref: str | Path, workspace: Workspace, local: bool) -> tuple[SweepSpec, list[PlannedTrial]]:
    """Load, expand and check a spec against this machine; nothing is started or written.

    Raises:
        ConfigError: the spec or one of its trials is invalid, a path is missing, or the GPUs do not fit.
    """
    spec = load_spec(ref, workspace.workdir)
    if spec.search is not None:
        raise ConfigError(f"spec {spec.name!r} has a 'search' section; launch it with `dcsweep search`")
    trials = plan_trials(spec, workspace.workdir)
    for line in selection_warnings(trial.config for trial in trials):
        typer.echo(f"warning: {line}", err=True)
    check_paths(trials)
    if local:
        check_local_gpus(spec.resources)
    return spec, trials


def run_sweep(
    ref: str | Path,
    workspace: Workspace,
    address: str | None = None,
    body: Callable[..., Any] | None = None,
    prefill: bool = True,
) -> SweepOutcome:
    """Validate the spec, open the sweep in MLflow, prefill the feature cache and run the pending trials on Ray."""
    spec, trials = prepare_sweep(ref, workspace, local=address is None)
    if prefill:  # before anything is written: an unreadable dataset or checkpoint stops here
        from orchestrator.feature_cache import prefill_feature_cache

        prefill_feature_cache(trials)
    context = tracking.open_sweep(
        workspace.tracking_uri, workspace.artifact_root, spec.name, spec.spec_hash(), dump_yaml(spec.model_dump(mode="json"))
    )
    finished = tracking.finished_trial_keys(context)
    pending = [trial for trial in trials if trial.key not in finished]
    if not pending:
        tracking.close_sweep(context, status="FINISHED")
        return SweepOutcome(launched=0, skipped=len(trials), errored=0)
    connect_ray(workspace, address)
    tuner = _grid_tuner(spec, pending, context, workspace, body)
    errored, unfinished = _fit(tuner, context)
    return SweepOutcome(len(pending), len(trials) - len(pending), errored, unfinished)


def resume_sweep(
    sweep_id: str, workspace: Workspace, address: str | None = None, body: Callable[..., Any] | None = None
) -> SweepOutcome:
    """Restore the sweep's Tuner: unfinished and errored trials continue from their checkpoints, finished ones stay.

    Raises:
        ConfigError: no such sweep in this workdir's MLflow backend or Ray storage.
    """
    context = tracking.find_sweep(workspace.tracking_uri, sweep_id)
    path = workspace.experiment_path(sweep_id)
    if context is None or not tune.Tuner.can_restore(path):
        raise ConfigError(
            f"sweep {sweep_id!r} has no saved state in {workspace.workdir}; pass the --workdir it ran in, or start it "
            f"with `dcsweep run`"
        )
    spec = parse_spec(load_yaml(tracking.read_sweep_spec(context), source="spec.yaml"), workspace.workdir)
    context = tracking.open_sweep(
        workspace.tracking_uri, workspace.artifact_root, spec.name, spec.spec_hash(), dump_yaml(spec.model_dump(mode="json"))
    )
    connect_ray(workspace, address)
    trainable = build_trainable(context, spec.resources.cpu, spec.resources.gpu, body)
    tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True, resume_errored=True)
    errored, unfinished = _fit(tuner, context)
    return SweepOutcome(len(tuner.get_results()), 0, errored, unfinished)


def run_config(
    spec: SweepSpec, workspace: Workspace, context: tracking.SweepContext, searched_keys: Sequence[str] = ()
) -> Any:
    """Ray's RunConfig: storage, retries from checkpoints, checkpoints kept, progress table, MLflow callback."""
    from orchestrator.progress import progress_table

    return tune.RunConfig(
        name=spec.name,
        storage_path=workspace.storage,
        failure_config=tune.FailureConfig(max_failures=spec.resources.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        progress_reporter=progress_table(searched_keys),
        callbacks=[TrackingCallback(context)],
        verbose=1,
    )


def _grid_tuner(
    spec: SweepSpec, trials: list[PlannedTrial], context: tracking.SweepContext, workspace: Workspace,
    body: Callable[..., Any] | None,
) -> Any:
    return tune.Tuner(
        build_trainable(context, spec.resources.cpu, spec.resources.gpu, body),
        param_space={"trial": tune.grid_search([trial.as_tune_config() for trial in trials])},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=spec.resources.max_concurrent, reuse_actors=True, trial_dirname_creator=trial_dirname
        ),
        run_config=run_config(spec, workspace, context),
    )


def connect_ray(workspace: Workspace, address: str | None) -> None:
    """Start or join Ray, then refuse local storage or local tracking on a multi-node cluster (ConfigError)."""
    nodes = start_ray(address)
    check_cluster_storage(nodes, workspace.storage, workspace.storage_is_shared, workspace.tracking_uri)


def _fit(tuner: Any, context: tracking.SweepContext) -> tuple[int, int]:
    """Run the Tuner; returns (errored, unfinished) trial counts. An interrupted sweep's parent run ends KILLED."""
    results = tuner.fit()
    errored = results.num_errors
    unfinished = len(results) - results.num_terminated - errored
    tracking.close_sweep(context, status="KILLED" if unfinished else "FAILED" if errored else "FINISHED")
    return errored, unfinished
