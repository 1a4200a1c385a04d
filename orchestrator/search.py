"""``dcsweep search``: an Optuna TPE search through Ray Tune, its study kept in ``<workdir>/optuna.db``.

Running the same search again loads the study (same name as the sweep) and adds trials to its history.
Several seeds repeat each sampled point (Ray's ``Repeater``; the searcher sees the mean); several metrics make
the search multi-objective and the Pareto front is returned.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import Repeater
from ray.tune.search.optuna import OptunaSearch

from orchestrator import tracking
from orchestrator.environment import check_local_gpus, check_paths
from orchestrator.launcher import connect_ray, run_config, sweep_header
from orchestrator.locks import driver_lock
from orchestrator.progress import SweepProgress, log_path
from orchestrator.plan import PlannedTrial, plan_search, trial_key
from orchestrator.sweep_spec import SearchParam, SearchSpec, SweepSpec, load_spec
from orchestrator.tracked_trial import (
    REPEAT_INDEX, TRIAL, build_trainable, resolve_trial, search_trial_template, trial_dirname,
)
from orchestrator.workspace import Workspace
from orchestrator.yaml_io import dump_yaml
from trainables.config import DEFAULT_EPOCHS


TRIAL_NAMES = "trial_names"
RUN_IDS = "mlflow_run_ids"


@dataclass(frozen=True)
class SearchOutcome:
    """The study after this run: its total trial count, its objectives and the best trials (the Pareto front if
    multi-objective), each a dict with ``number``, ``values``, ``params`` and ``trial_names``."""

    study_trials: int
    metrics: list[str]
    modes: list[str]
    best: list[dict[str, Any]]


def prepare_search(ref: str | Path, workspace: Workspace, local: bool) -> tuple[SweepSpec, str, dict[str, Any]]:
    """Load and check a search spec; returns the spec, its arm and the fixed flat config.

    Raises:
        ConfigError: no ``search`` section, a bad space, or an invalid/missing-path config.
    """
    spec = load_spec(ref, workspace.workdir)
    arm, fixed = plan_search(spec, workspace.workdir)
    check_paths([PlannedTrial(name=arm, arm=arm, seed=spec.seeds[0], key=trial_key(fixed), config=fixed)])
    if local:
        check_local_gpus(spec.resources)
    return spec, arm, fixed


def run_search(
    ref: str | Path, workspace: Workspace, address: str | None = None, body: Callable[..., Any] | None = None
) -> SearchOutcome:
    """Run ``search.num_samples`` new points (times the number of seeds) and return the study's best trials."""
    spec, arm, fixed = prepare_search(ref, workspace, local=address is None)
    connect_ray(workspace, address)  # before anything is written: a refused cluster leaves no trace
    with (
        SweepProgress(log_path(workspace.workdir, spec.name)) as progress,
        driver_lock(workspace.workdir, spec.name),  # one driver per study, as for run and resume
    ):
        context = tracking.open_sweep(
            workspace.tracking_uri, workspace.artifact_root, spec.name, spec.spec_hash(),
            dump_yaml(spec.model_dump(mode="json")),
        )
        total = spec.search.num_samples * len(spec.seeds)
        progress.show(sweep_header(workspace, spec.name, total, 0, total))
        prepare_study(workspace, spec.name, spec.search)
        results = _tuner(spec, arm, fixed, workspace, context, body, progress).fit()
        tracking.close_sweep(context, status="FAILED" if results.errors else "FINISHED")
    return summarize_study(study_storage(workspace), spec.name)


def _tuner(
    spec: SweepSpec, arm: str, fixed: dict[str, Any], workspace: Workspace, context: tracking.SweepContext,
    body: Callable[..., Any] | None, progress: SweepProgress,
) -> Any:
    """The search's Tuner: Optuna TPE (repeated per seed), ASHA if asked, the MLflow and view callbacks."""
    search, repeats = spec.search, len(spec.seeds)
    space = {key: _tune_domain(param) for key, param in search.space.items()}
    return tune.Tuner(
        build_trainable(context, spec.resources.per_trial(), body),
        param_space={TRIAL: search_trial_template(arm, fixed, spec.seeds), **space},
        tune_config=tune.TuneConfig(
            search_alg=_searcher(spec, workspace, repeats),
            scheduler=_scheduler(search, fixed),
            num_samples=search.num_samples * repeats,
            max_concurrent_trials=spec.resources.max_concurrent,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=run_config(
            spec, workspace, context, progress, StudyLinks(study_storage(workspace), spec.name, context)
        ),
    )


def prepare_study(workspace: Workspace, study_name: str, search: SearchSpec) -> optuna.Study:
    """Create (or load) the study with its directions and objective names, before Ray's searcher loads it."""
    directions = ["maximize" if mode == "max" else "minimize" for mode in search.modes]
    study = optuna.create_study(
        study_name=study_name, storage=study_storage(workspace), directions=directions, load_if_exists=True
    )
    with warnings.catch_warnings():  # set_metric_names is marked experimental since Optuna 3.2
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(search.metrics))
    return study


class StudyLinks(tune.Callback):
    """Driver-side callback: each Optuna trial records the names and MLflow run ids of the Ray trials it ran as.

    The link is written at a trial's first result, while the Optuna trial is still running (Optuna refuses
    attributes on finished trials); the Optuna trial is found by its sampled parameters.
    """

    def __init__(self, storage: str, study_name: str, context: tracking.SweepContext) -> None:
        self._storage = storage
        self._study_name = study_name
        self._context = context
        self._linked: set[str] = set()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if trial.trial_id in self._linked:
            return
        planned = resolve_trial(trial.config)
        sampled = {key: value for key, value in trial.config.items() if key not in (TRIAL, REPEAT_INDEX)}
        study = optuna.load_study(study_name=self._study_name, storage=self._storage)
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        match = next((frozen for frozen in running if frozen.params == sampled), None)
        run_id = tracking.trial_run_id(self._context, planned.key)
        if match is None or run_id is None:
            return
        attach = optuna.trial.Trial(study, match._trial_id)  # Optuna's handle on a running trial, by storage id
        attach.set_user_attr(TRIAL_NAMES, [*match.user_attrs.get(TRIAL_NAMES, []), planned.name])
        attach.set_user_attr(RUN_IDS, [*match.user_attrs.get(RUN_IDS, []), run_id])
        self._linked.add(trial.trial_id)


def study_storage(workspace: Workspace) -> str:
    """The Optuna storage URL: ``sqlite:///<workdir>/optuna.db``."""
    return f"sqlite:///{workspace.workdir / 'optuna.db'}"


def summarize_study(storage: str, study_name: str) -> SearchOutcome:
    """Trial count and best trials (values and params) of a stored study."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    best = study.best_trials if len(study.directions) > 1 else _single_best(study)
    rows = [
        {"number": trial.number, "values": list(trial.values), "params": dict(trial.params),
         "trial_names": list(trial.user_attrs.get(TRIAL_NAMES, []))}
        for trial in best
    ]
    names = study.metric_names or [f"objective {index}" for index in range(len(study.directions))]
    modes = ["max" if direction == optuna.study.StudyDirection.MAXIMIZE else "min" for direction in study.directions]
    return SearchOutcome(study_trials=len(study.trials), metrics=list(names), modes=modes, best=rows)


def _single_best(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    completed = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    return [study.best_trial] if completed else []


def _searcher(spec: SweepSpec, workspace: Workspace, repeats: int) -> Any:
    search = spec.search
    multi = len(search.metrics) > 1
    searcher = OptunaSearch(
        metric=search.metrics if multi else search.metrics[0],
        mode=search.modes if multi else search.modes[0],
        study_name=spec.name,
        storage=optuna.storages.RDBStorage(study_storage(workspace)),
        seed=None if search.seed is None else search.seed + _existing_trials(workspace, spec.name),
    )
    return Repeater(searcher, repeat=repeats, set_index=True) if repeats > 1 else searcher


def _existing_trials(workspace: Workspace, study_name: str) -> int:
    """Trials already in the stored study; offsets the sampler seed so a resumed search does not replay its points."""
    try:
        return len(optuna.load_study(study_name=study_name, storage=study_storage(workspace)).trials)
    except KeyError:
        return 0


def _scheduler(search: SearchSpec, fixed: dict[str, Any]) -> Any:
    if search.scheduler == "none":
        return None
    epochs = int(fixed.get("train.epochs", DEFAULT_EPOCHS))
    return ASHAScheduler(
        metric=search.metrics[0], mode=search.modes[0], time_attr="training_iteration", max_t=epochs,
        grace_period=max(1, epochs // 8),
    )


def _tune_domain(param: SearchParam) -> Any:
    domains = {
        "float": lambda: tune.uniform(param.low, param.high),
        "loguniform": lambda: tune.loguniform(param.low, param.high),
        "int": lambda: tune.randint(int(param.low), int(param.high) + 1),
        "categorical": lambda: tune.choice(param.choices),
    }
    return domains[param.type]()
