"""One parameter, ``selection.epsilon``, followed from a spec to the TrialConfig the trial body receives."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator import tracking
from orchestrator.mlflow_layout import default_tracking_uri
from orchestrator.plan import plan_trials, trial_key
from orchestrator.sweep_spec import parse_spec
from orchestrator.tracked_trial import sweep_trainable
from trainables import tune_session
from trainables.config import TrialConfig

SPEC = {
    "name": "epsilon",
    "base": {"dataset": {"name": "digits"}, "method": {"name": "cdc"}, "train": {"epochs": 1}},
    "grid": {"selection.epsilon": [0.1, 0.25]},
    "arms": {"ours": {"selection.strategy": "dss", "init.alpha": 2}},
    "seeds": [0],
}


def test_a_planned_trial_is_validated_once_and_its_config_object_reaches_the_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Count ``TrialConfig.model_validate`` calls (every parse of a trial config goes through it).

    Driver: ``plan_trials`` validates each trial once (schema, registered names, method params) and keeps the
    object; every later use on the driver (feature cache, environment checks, warnings) reads that object. Ray
    carries its canonical flat form. Worker: ``sweep_trainable`` rebuilds the TrialConfig from it once (the schema
    alone: no registry or params check), logs that form to MLflow and hands the same object to the trial body.
    So two validations per trial: one on each side of Ray, which cannot carry a live object between processes.
    """
    validations: list[int] = []
    validate = TrialConfig.model_validate.__func__

    def counted(cls, *args, **kwargs):
        validations.append(1)
        return validate(cls, *args, **kwargs)

    monkeypatch.setattr(TrialConfig, "model_validate", classmethod(counted))
    trials = plan_trials(parse_spec(SPEC, tmp_path), tmp_path)
    assert len(validations) == len(trials) == 2
    assert all(trial.trial_config is trial.trial_config for trial in trials) and len(validations) == 2

    context = tracking.open_sweep(default_tracking_uri(tmp_path), tmp_path / "art", "epsilon", "h", "name: e\n")
    monkeypatch.setattr(tune_session, "current_node_id", lambda: "node-1")
    received: list[TrialConfig] = []
    trial = next(trial for trial in trials if trial.config["selection.epsilon"] == 0.25)
    ray_config = pickle.loads(pickle.dumps({"trial": trial.as_tune_config()}))  # what Ray hands the worker
    sweep_trainable(ray_config, context, body=lambda config, callbacks: received.append(config))

    assert len(validations) == 3  # the worker's one rebuild
    (config,) = received
    assert isinstance(config, TrialConfig) and config.selection.epsilon == 0.25 and config.init.alpha == 2.0
    assert trial_key(config) == trial.key
    run = MlflowClient(context.tracking_uri).search_runs(
        [context.experiment_id], filter_string=f"tags.`{tracking.TRIAL_KEY}` = '{trial.key}'"
    )[0]
    assert float(run.data.params["selection.epsilon"]) == 0.25
