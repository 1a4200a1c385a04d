"""Launching a sweep on Ray Tune (``dcsweep run``) and restoring an interrupted one (``dcsweep resume``).

Ray Tune schedules the trials (a grid search over the planned trials); each trial logs to its MLflow child
run, and trials already FINISHED in MLflow are left out of a re-run of the same sweep. One driver at a time runs a
sweep in a workdir (``orchestrator.locks``); SIGINT or SIGTERM ends the sweep KILLED, resumable
(``orchestrator.interrupts``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import tune

from orchestrator import tracking
from orchestrator.cluster import check_cluster_storage, check_reachable, start_ray
from orchestrator.environment import check_devices, check_local_gpus, check_paths
from orchestrator.interrupts import Interrupted, InterruptWatch, watch_interrupts
from orchestrator.live_view import SweepHeader
from orchestrator.locks import driver_lock
from orchestrator.plan import PlannedTrial, plan_trials
from orchestrator.progress import SweepProgress, held_start_up_logs, log_path
from orchestrator.sweep_spec import SWEEP_NAME, SweepSpec, load_spec, parse_spec
from orchestrator.tracked_trial import build_trainable, resolve_trial, trial_dirname
from orchestrator.workspace import Workspace
from orchestrator.yaml_io import dump_yaml, load_yaml
from trainables.errors import ConfigError, DcsweepError
from trainables.plugins import selection_warnings


@dataclass(frozen=True)
class SweepOutcome:
    """How a launch ended: trials run now, skipped as already finished, errored, left unfinished, and the signal
    (SIGINT/SIGTERM number) that interrupted the driver, if any."""

    launched: int
    skipped: int
    errored: int
    unfinished: int = 0
    interrupted_by: int | None = None
    sweep_id: str = ""


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
        ConfigError: the spec or one of its trials is invalid, a path is missing, or the GPUs or a device are not there.
    """
    spec = load_spec(ref, workspace.workdir)
    if spec.search is not None:
        raise ConfigError(f"spec {spec.name!r} has a 'search' section; launch it with `dcsweep search`")
    trials = plan_trials(spec, workspace.workdir)
    check_paths(trials)
    if local:
        check_local_gpus(spec.resources)
        check_devices(trials)
    return spec, trials


def run_sweep(
    ref: str | Path,
    workspace: Workspace,
    address: str | None = None,
    body: Callable[..., Any] | None = None,
    prefill: bool = True,
) -> SweepOutcome:
    """Validate the spec, join Ray, prefill the feature cache, open the sweep in MLflow and run the pending trials.

    Raises:
        ConfigError: the spec is invalid, or another driver runs this sweep in this workdir.
        DcsweepError: Ray could not be started or joined.
    """
    if address is not None:
        check_reachable(address)  # in seconds, before planning the trials imports the trial side
    spec, trials = prepare_sweep(ref, workspace, local=address is None)
    connect_ray(workspace, address)  # an unreachable cluster or a refused storage stops here, before any write
    with (
        SweepProgress(log_path(workspace.workdir, spec.name)) as progress,
        driver_lock(workspace.workdir, spec.name),
        watch_interrupts() as watch,
    ):
        for line in selection_warnings(trial.trial_config for trial in trials):  # only for a sweep that will run
            progress.warn(f"warning: {line}")
        if prefill:  # before MLflow is written: an unreadable dataset or checkpoint stops here
            from orchestrator.feature_cache import prefill_feature_cache

            prefill_feature_cache(trials, warn=progress.warn)
        earlier = tracking.find_sweep(workspace.tracking_uri, spec.name)
        finished = tracking.finished_trial_keys(earlier) if earlier else set()
        pending = [trial for trial in trials if trial.key not in finished]
        if not pending:
            tracking.close_sweep(_open(spec, workspace), status="FINISHED")
            return SweepOutcome(launched=0, skipped=len(trials), errored=0, sweep_id=spec.name)
        context = _open(spec, workspace)
        progress.show(sweep_header(workspace, spec.name, len(trials), len(trials) - len(pending), len(pending)))
        pending_keys = {trial.key for trial in pending}
        try:
            tuner = _grid_tuner(spec, pending, context, workspace, body, progress)
            errored, unfinished = _fit(tuner, context, watch, pending_keys)
        except Interrupted as stop:
            return _interrupted(
                context, pending_keys, launched=len(pending), skipped=len(trials) - len(pending), signum=stop.signum
            )
        except BaseException:
            tracking.close_sweep(context, status="FAILED")
            raise
    return SweepOutcome(len(pending), len(trials) - len(pending), errored, unfinished, watch.signum, spec.name)


def resume_sweep(
    sweep_id: str, workspace: Workspace, address: str | None = None, body: Callable[..., Any] | None = None
) -> SweepOutcome:
    """Restore the sweep's Tuner: unfinished and errored trials continue from their checkpoints, finished ones stay.

    Raises:
        ConfigError: no such sweep in this workdir's MLflow backend or Ray storage.
    """
    if not SWEEP_NAME.fullmatch(sweep_id):
        raise ConfigError(f"{sweep_id!r} is not a sweep name (letters, digits, '_', '.', '-'); pass the spec's 'name'")
    context = tracking.find_sweep(workspace.tracking_uri, sweep_id)
    path = workspace.experiment_path(sweep_id)
    if context is None or not tune.Tuner.can_restore(path):
        raise ConfigError(
            f"sweep {sweep_id!r} has no saved state in {workspace.workdir}; pass the --workdir it ran in, or start it "
            f"with `dcsweep run`"
        )
    spec = parse_spec(load_yaml(tracking.read_sweep_spec(context), source="spec.yaml"), workspace.workdir)
    connect_ray(workspace, address)
    with (
        SweepProgress(log_path(workspace.workdir, spec.name)) as progress,
        driver_lock(workspace.workdir, spec.name),
        watch_interrupts() as watch,
    ):
        context = _open(spec, workspace)
        header, pending_keys = _resume_plan(spec, workspace, context)
        progress.show(header)
        try:
            trainable = build_trainable(context, spec.resources.per_trial(), body)
            tuner = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True, resume_errored=True)
            _show_progress(tuner, progress)
            errored, unfinished = _fit(tuner, context, watch, pending_keys)
        except Interrupted as stop:
            return _interrupted(context, pending_keys, launched=0, skipped=0, signum=stop.signum)
        except BaseException:
            tracking.close_sweep(context, status="FAILED")
            raise
    return SweepOutcome(len(tuner.get_results()), 0, errored, unfinished, watch.signum, spec.name)


def _open(spec: SweepSpec, workspace: Workspace) -> tracking.SweepContext:
    return tracking.open_sweep(
        workspace.tracking_uri, workspace.artifact_root, spec.name, spec.spec_hash(), dump_yaml(spec.model_dump(mode="json"))
    )


def _interrupted(
    context: tracking.SweepContext, keys: set[str] | None, launched: int, skipped: int, signum: int
) -> SweepOutcome:
    """A driver stopped outside Ray Tune's loop (or forced by a second signal): its runs end KILLED.

    Unfinished trials are counted as ``_fit`` counts them: in MLflow among ``keys``, else the runs it killed.
    """
    killed = tracking.kill_running_trials(context)
    unfinished = killed if keys is None else _unfinished(context, keys, errored=0)
    tracking.close_sweep(context, status="KILLED")
    return SweepOutcome(launched, skipped, 0, unfinished, signum, context.sweep_id)


def run_config(spec: SweepSpec, workspace: Workspace, context: tracking.SweepContext, *callbacks: tune.Callback) -> Any:
    """Ray's RunConfig: storage, retries from checkpoints, checkpoints kept, the MLflow callback and ``callbacks``.

    Ray's own progress output is off (``verbose=0``); a ``SweepProgress`` among ``callbacks`` draws the sweep.
    """
    return tune.RunConfig(
        name=spec.name,
        storage_path=workspace.storage,
        failure_config=tune.FailureConfig(max_failures=spec.resources.max_failures),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        callbacks=[TrackingCallback(context), *callbacks],
        verbose=0,
    )


def sweep_header(
    workspace: Workspace, sweep: str, planned: int | None = None, skipped: int | None = None, to_run: int | None = None
) -> SweepHeader:
    """The live view's header (counts are None for a resumed search, which learns them from Ray)."""
    return SweepHeader(sweep, planned, skipped, to_run, workspace.tracking_uri, workspace.workdir)


def _resume_plan(
    spec: SweepSpec, workspace: Workspace, context: tracking.SweepContext
) -> tuple[SweepHeader, set[str] | None]:
    """The header and the keys of the trials left to run, for a resumed grid sweep counted as ``dcsweep run`` counts:
    planned, finished in MLflow, and the rest. A resumed search learns its counts from Ray (keys None)."""
    if spec.search is not None:
        return sweep_header(workspace, spec.name), None
    trials = plan_trials(spec, workspace.workdir)
    finished = tracking.finished_trial_keys(context)
    pending = {trial.key for trial in trials if trial.key not in finished}
    return sweep_header(workspace, spec.name, len(trials), len(trials) - len(pending), len(pending)), pending


def _show_progress(tuner: Any, progress: SweepProgress) -> None:
    """Add the live view to a restored Tuner's callbacks (Ray restores the run config without it)."""
    run_config = tuner._local_tuner.get_run_config()
    run_config.callbacks = [*(run_config.callbacks or []), progress]
    run_config.verbose = 0


def _grid_tuner(
    spec: SweepSpec, trials: list[PlannedTrial], context: tracking.SweepContext, workspace: Workspace,
    body: Callable[..., Any] | None, progress: SweepProgress,
) -> Any:
    return tune.Tuner(
        build_trainable(context, spec.resources.per_trial(), body),
        param_space={"trial": tune.grid_search([trial.as_tune_config() for trial in trials])},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=spec.resources.max_concurrent, reuse_actors=True, trial_dirname_creator=trial_dirname
        ),
        run_config=run_config(spec, workspace, context, progress),
    )


def connect_ray(workspace: Workspace, address: str | None) -> None:
    """Start or join Ray, then refuse local storage or local tracking on a multi-node cluster (ConfigError).

    Raises:
        DcsweepError: Ray did not start (e.g. its node timed out on a busy machine) or the cluster is unreachable.
    """
    try:
        with held_start_up_logs():  # its warnings go to the sweep's log file, not before the live view
            nodes = start_ray(address)
    except DcsweepError:
        raise
    except Exception as error:  # Ray raises bare Exception / RuntimeError / ConnectionError on start-up
        raise DcsweepError(_ray_start_failure(address, error)) from None
    check_cluster_storage(nodes, workspace.storage, workspace.storage_is_shared, workspace.tracking_uri)


def _ray_start_failure(address: str | None, error: Exception) -> str:
    reason = " ".join(str(error).split())[:300] or type(error).__name__
    if address is None:
        return (
            f"the local Ray did not start ({reason}); retry when the machine is less busy, and check that /tmp has "
            f"free space and that no stale Ray is left (`ray stop`)"
        )
    return f"could not join the Ray cluster at {address} ({reason}); check the address and that the cluster is up"


def _fit(
    tuner: Any, context: tracking.SweepContext, watch: InterruptWatch, keys: set[str] | None
) -> tuple[int, int]:
    """Run the Tuner on the trials ``keys`` (None: those Ray generates); returns (errored, unfinished) counts.

    Unfinished trials neither finished nor errored; with ``keys`` they are counted by ``_unfinished``. An
    interrupted sweep (a signal, or trials left unfinished) ends KILLED, and so do its trial runs still RUNNING.
    """
    with watch.tune_running():
        results = tuner.fit()
    errored = results.num_errors
    if keys is None:
        unfinished = len(results) - results.num_terminated - errored
    else:
        unfinished = _unfinished(context, keys, errored)
    tracking.log_arm_summary(context)
    if watch.signum is not None or unfinished:
        tracking.kill_running_trials(context)
        tracking.close_sweep(context, status="KILLED")
    else:
        tracking.close_sweep(context, status="FAILED" if errored else "FINISHED")
    return errored, unfinished


def _unfinished(context: tracking.SweepContext, keys: set[str], errored: int) -> int:
    """Trials among ``keys`` that neither finished nor errored, counted in MLflow: Ray's results hold only the
    trials its lazily expanded grid had generated when a signal stopped it."""
    return max(0, len(keys - tracking.finished_trial_keys(context)) - errored)
