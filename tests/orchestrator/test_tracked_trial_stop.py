"""A trial worker stopped by Ray (the sweep was interrupted) is no trial failure."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator import tracking
from orchestrator.mlflow_layout import ERROR, default_tracking_uri
from orchestrator.plan import plan_trials
from orchestrator.sweep_spec import parse_spec
from orchestrator.tracked_trial import sweep_trainable
from trainables import tune_session

SPEC = {"name": "stop", "base": {"dataset": {"name": "digits"}, "method": {"name": "cdc"}}, "seeds": [0]}


@pytest.mark.parametrize("stop", [SystemExit(0), KeyboardInterrupt()])
def test_a_stopped_worker_leaves_its_run_running_for_the_driver_to_kill(
    stop: BaseException, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trial = plan_trials(parse_spec(SPEC, tmp_path), tmp_path)[0]
    uri = default_tracking_uri(tmp_path)
    context = tracking.open_sweep(uri, tmp_path / "art", "stop", "h", "name: stop\n")
    monkeypatch.setattr(tune_session, "current_node_id", lambda: "node-1")

    def stopped(config, callbacks):
        raise stop

    with pytest.raises(type(stop)):
        sweep_trainable({"trial": trial.as_tune_config()}, context, body=stopped)
    run = MlflowClient(context.tracking_uri).search_runs(
        [context.experiment_id], filter_string=f"tags.`{tracking.TRIAL_KEY}` = '{trial.key}'"
    )[0]
    assert run.info.status == "RUNNING" and ERROR not in run.data.tags
