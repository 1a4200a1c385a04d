"""The Optuna study as researchers read it: objective names, links to trial names and MLflow runs, a labelled front."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from orchestrator import tracking
from orchestrator.commands.search import describe_best
from orchestrator.launcher import Workspace
from orchestrator.search import RUN_IDS, TRIAL_NAMES, StudyLinks, prepare_study, study_storage, summarize_study
from orchestrator.sweep_spec import SearchSpec
from orchestrator.tracked_trial import resolve_trial, search_trial_template

SEARCH = SearchSpec(
    space={"selection.epsilon": {"type": "float", "low": 0.05, "high": 0.4}},
    metrics=["acc", "train_time_s"], modes=["max", "min"],
)
POINTS = [(0.21879360563134626, (0.8414213, 7.72512)), (0.1, (0.9, 12.3456)), (0.3, (0.7, 20.0))]


@pytest.fixture()
def workspace(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path)


def test_the_pareto_front_names_its_objectives_and_rounds(workspace: Workspace) -> None:
    study = prepare_study(workspace, "s1", SEARCH)
    for epsilon, values in POINTS:
        study.enqueue_trial({"selection.epsilon": epsilon})
        trial = study.ask({"selection.epsilon": optuna.distributions.FloatDistribution(0.05, 0.4)})
        trial.set_user_attr(TRIAL_NAMES, [f"scan/ours/search-{trial.number}/seed0"])
        study.tell(trial, list(values))
    outcome = summarize_study(study_storage(workspace), "s1")
    assert optuna.load_study(study_name="s1", storage=study_storage(workspace)).metric_names == ["acc", "train_time_s"]
    lines = describe_best(outcome)
    assert lines[0] == "study has 3 trials; Pareto front over acc (max), train_time_s (min):"
    front = {trial.number for trial in study.best_trials}
    assert front == {0, 1} and len(lines) == 1 + len(front)
    assert lines[1] == "  #0 acc=0.8414, train_time_s=7.725 | selection.epsilon=0.2188 | scan/ours/search-0/seed0"


def test_each_optuna_trial_links_its_ray_trials_and_mlflow_runs(workspace: Workspace) -> None:
    study = prepare_study(workspace, "s2", SEARCH)
    asked = study.ask({"selection.epsilon": optuna.distributions.FloatDistribution(0.05, 0.4)})
    config = {
        "trial": search_trial_template("ours", {"method.name": "scan", "train.seed": 0}, [0]),
        "selection.epsilon": asked.params["selection.epsilon"],
    }
    planned = resolve_trial(config)
    context = tracking.open_sweep(workspace.tracking_uri, workspace.artifact_root, "s2", "h", "name: s2\n")
    run = tracking.TrialRun.open(context, planned.name, planned.key, planned.arm, planned.seed, {})
    links = StudyLinks(study_storage(workspace), "s2", context)
    ray_trial = SimpleNamespace(trial_id="t1", config=config)
    links.on_trial_result(0, [ray_trial], ray_trial, {"epoch": 1})
    links.on_trial_result(0, [ray_trial], ray_trial, {"epoch": 2})  # linked once
    stored = optuna.load_study(study_name="s2", storage=study_storage(workspace)).trials[0]
    assert stored.user_attrs == {TRIAL_NAMES: [planned.name], RUN_IDS: [run.run_id]}
