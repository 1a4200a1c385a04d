"""The parent run's per-arm summary and the trial runs' metric and param hygiene, read back with MlflowClient."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from orchestrator import tracking
from orchestrator.mlflow_layout import default_tracking_uri

FINAL = {  # trial name -> final metrics; the +DACHI arm checks the renaming of characters MLflow refuses
    "cdc/baseline/seed0": {"acc": 0.61, "pruned_frac": 0.0},
    "cdc/baseline/seed1": {"acc": 0.65, "pruned_frac": 0.0},
    "cdc/baseline/seed2": {"acc": 0.70, "pruned_frac": 0.0},
    "cdc/+DACHI/seed0": {"acc": 0.80, "pruned_frac": 0.25},
    "cdc/+DACHI/seed1": {"acc": 0.84, "pruned_frac": 0.35},
}


@pytest.fixture()
def sweep(tmp_path: Path) -> tracking.SweepContext:
    return tracking.open_sweep(default_tracking_uri(tmp_path), tmp_path / "art", "s1", "abc", "name: s1\n")


def _finish(context: tracking.SweepContext, name: str, metrics: dict[str, float]) -> tracking.TrialRun:
    arm, seed = name.split("/")[1], int(name[-1])
    run = tracking.TrialRun.open(context, name, f"{name}-key", arm, seed, {"method.name": "cdc"})
    run.log_epoch(1, {"epoch": 1, **metrics})
    run.end_stopped(1)
    return run


def test_parent_run_holds_mean_and_std_per_arm_and_the_table(sweep: tracking.SweepContext) -> None:
    for name, metrics in FINAL.items():
        _finish(sweep, name, metrics)
    unfinished = tracking.TrialRun.open(sweep, "cdc/baseline/seed3", "other-key", "baseline", 3, {})
    unfinished.log_epoch(1, {"acc": 0.0})  # a RUNNING trial does not count
    tracking.log_arm_summary(sweep)
    client = MlflowClient(sweep.tracking_uri)
    logged = client.get_run(sweep.parent_run_id).data.metrics
    for arm, metric_arm in (("cdc/baseline", "cdc/baseline"), ("cdc/+DACHI", "cdc/plus_DACHI")):
        values = {m: [final[m] for name, final in FINAL.items() if name.startswith(arm + "/")] for m in ("acc", "pruned_frac")}
        for metric, series in values.items():
            assert logged[f"{metric}_mean/{metric_arm}"] == pytest.approx(np.mean(series))
            assert logged[f"{metric}_std/{metric_arm}"] == pytest.approx(np.std(series, ddof=1))
    table = Path(client.download_artifacts(sweep.parent_run_id, "summary/arms.md")).read_text().splitlines()
    assert table[0] == "| arm | n | acc | pruned_frac |"
    assert f"| cdc/baseline | 3 | {np.mean([0.61, 0.65, 0.70]):.4f} ± {np.std([0.61, 0.65, 0.70], ddof=1):.4f} |" in table[2]
    html = Path(client.download_artifacts(sweep.parent_run_id, "summary/arms.html")).read_text()
    assert "<td>cdc/+DACHI</td><td>2</td>" in html


def test_epoch_is_the_step_not_a_metric_and_noise_params_are_left_out(sweep: tracking.SweepContext) -> None:
    params = {"method.name": "cdc", "cache_dir": "/tmp/cache", "selection.epsilon": None, "init.alpha": 2.0}
    run = tracking.TrialRun.open(sweep, "cdc/ours/seed0", "k-s0", "ours", 0, params)
    for epoch in (1, 2):
        run.log_epoch(epoch, {"epoch": epoch, "acc": epoch / 4, "ece": None})
    client = MlflowClient(sweep.tracking_uri)
    stored = client.get_run(run.run_id)
    assert set(stored.data.metrics) == {"acc"}
    assert [(point.step, point.value) for point in client.get_metric_history(run.run_id, "acc")] == [(1, 0.25), (2, 0.5)]
    assert stored.data.params == {"method.name": "cdc", "init.alpha": "2.0", "arm": "ours", "seed": "0"}
    assert run.last_logged_epoch() == 2
    assert [row["epoch"] for row in tracking.trial_runs(sweep)] == [2]
