"""``dcsweep search``: an Optuna TPE search through Ray Tune, its study kept in ``<workdir>/optuna.db``.

Running the same search again loads the study (same name as the sweep) and adds trials to its history.
Several seeds repeat each sampled point (Ray's ``Repeater``; the searcher sees the mean); several metrics make
the search multi-objective and the Pareto front is returned.
"""

from __future__ import annotations

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
from orchestrator.launcher import Workspace, connect_ray, run_config
from orchestrator.plan import PlannedTrial, plan_search, trial_key
from orchestrator.spec import SearchParam, SearchSpec, SweepSpec, load_spec
from orchestrator.trainable import TRIAL, build_trainable, search_trial_template, trial_dirname
from orchestrator.yaml_io import dump_yaml


@dataclass(frozen=True)
class SearchOutcome:
    """The study after this run: its total trial count and the best trials (the Pareto front if multi-objective)."""

    study_trials: int
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
    search = spec.search
    connect_ray(workspace, address)
    context = tracking.open_sweep(
        workspace.tracking_uri, workspace.artifact_root, spec.name, spec.spec_hash(), dump_yaml(spec.model_dump(mode="json"))
    )
    repeats = len(spec.seeds)
    space = {key: _tune_domain(param) for key, param in search.space.items()}
    tuner = tune.Tuner(
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
        run_config=run_config(spec, workspace, context, searched_keys=list(search.space)),
    )
    results = tuner.fit()
    tracking.close_sweep(context, status="FAILED" if results.errors else "FINISHED")
    return summarize_study(study_storage(workspace), spec.name)


def study_storage(workspace: Workspace) -> str:
    """The Optuna storage URL: ``sqlite:///<workdir>/optuna.db``."""
    return f"sqlite:///{workspace.workdir / 'optuna.db'}"


def summarize_study(storage: str, study_name: str) -> SearchOutcome:
    """Trial count and best trials (values and params) of a stored study."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    best = study.best_trials if len(study.directions) > 1 else _single_best(study)
    rows = [{"number": trial.number, "values": list(trial.values), "params": dict(trial.params)} for trial in best]
    return SearchOutcome(study_trials=len(study.trials), best=rows)


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
    epochs = int(fixed.get("train.epochs", 100))
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
