"""The MLflow adapter, read back with a plain MlflowClient: idempotent runs, no duplicate steps, FAILED + error."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from orchestrator import tracking
from orchestrator.cluster import check_cluster_storage
from orchestrator.environment import check_local_gpus
from orchestrator.mlflow_layout import default_tracking_uri
from orchestrator.sweep_spec import Resources
from orchestrator.tracked_trial import MlflowTrialLogger
from trainables.errors import ConfigError


@pytest.fixture()
def sweep(tmp_path: Path) -> tracking.SweepContext:
    return tracking.open_sweep(default_tracking_uri(tmp_path), tmp_path / "art", "s1", "abc", "name: s1\n")


def _open(context: tracking.SweepContext, key: str = "k1-s0") -> tracking.TrialRun:
    return tracking.TrialRun.open(context, "scan/ours/seed0", key, "ours", 0, {"method.name": "scan", "init.alpha": 2.0})


def test_a_reopened_trial_continues_its_run_without_duplicate_steps(sweep: tracking.SweepContext) -> None:
    first = _open(sweep)
    logger = MlflowTrialLogger(first)
    for epoch in (1, 2, 3):
        logger.on_epoch_end(epoch, {"epoch": epoch, "acc": epoch / 10, "ece": None}, None)
    # a retry restored from the epoch-2 checkpoint replays epoch 3 and goes on
    retry = _open(sweep)
    assert retry.run_id == first.run_id
    logger = MlflowTrialLogger(retry)
    for epoch in (3, 4):
        logger.on_epoch_end(epoch, {"epoch": epoch, "acc": epoch / 10}, None)
    curve = [{"epoch": e, "acc": e / 10, "train_time_s": 0.5} for e in (1, 2, 3, 4)]
    logger.on_trial_end(SimpleNamespace(
        curve=curve, predictions=np.array([0, 1, 1]), probabilities=np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]]),
        stop_epoch=4, labels=np.array([0, 1, 0]), reference={"kmeans_acc": 0.75},
    ))
    client = MlflowClient(sweep.tracking_uri)
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert [(p.step, p.value) for p in sorted(client.get_metric_history(run.info.run_id, "acc"), key=lambda p: p.step)] == [
        (e, e / 10) for e in (1, 2, 3, 4)
    ]
    assert "ece" not in run.data.metrics
    assert run.data.metrics["total_train_time_s"] == pytest.approx(2.0) and run.data.metrics["stop_epoch"] == 4
    assert run.data.metrics["kmeans_acc"] == 0.75
    assert run.data.params == {"method.name": "scan", "init.alpha": "2.0", "arm": "ours", "seed": "0"}
    assert run.data.tags["mlflow.parentRunId"] == sweep.parent_run_id
    saved = np.load(client.download_artifacts(run.info.run_id, "predictions.npz"))
    np.testing.assert_array_equal(saved["pred"], [0, 1, 1])
    np.testing.assert_allclose(saved["prob_max"], [0.9, 0.8, 0.6])
    assert Path(client.download_artifacts(run.info.run_id, "curve.csv")).read_text().splitlines()[0] == "epoch,acc,train_time_s"
    assert tracking.finished_trial_keys(sweep) == {"k1-s0"}
    assert _open(sweep).is_finished


def test_a_failure_ends_the_run_failed_with_the_error_and_a_retry_clears_it(sweep: tracking.SweepContext) -> None:
    run = _open(sweep, key="k2-s0")
    run.fail(RuntimeError("loss became NaN\n at epoch 3"))
    client = MlflowClient(sweep.tracking_uri)
    stored = client.get_run(run.run_id)
    assert stored.info.status == "FAILED" and stored.data.tags["dcsweep.error"] == "RuntimeError: loss became NaN at epoch 3"
    again = _open(sweep, key="k2-s0")
    stored = client.get_run(again.run_id)
    assert again.run_id == run.run_id and stored.info.status == "RUNNING" and "dcsweep.error" not in stored.data.tags


def test_reopening_a_sweep_reuses_its_parent_run(tmp_path: Path, sweep: tracking.SweepContext) -> None:
    again = tracking.open_sweep(sweep.tracking_uri, tmp_path / "art", "s1", "def", "name: s1\n")
    assert again == sweep
    parent = MlflowClient(sweep.tracking_uri).get_run(sweep.parent_run_id)
    assert parent.data.tags["dcsweep.spec_hash"] == "def" and parent.data.tags["dcsweep.role"] == "sweep"
    assert tracking.read_sweep_spec(sweep) == "name: s1\n"
    assert tracking.find_sweep(sweep.tracking_uri, "other") is None


def test_cluster_and_gpu_checks() -> None:
    check_cluster_storage(1, "/local/ray_results", False, "sqlite:///x.db")
    with pytest.raises(ConfigError, match="--storage"):
        check_cluster_storage(3, "/local/ray_results", False, "http://mlflow:5000")
    with pytest.raises(ConfigError, match="--tracking-uri"):
        check_cluster_storage(3, "s3://bucket/runs", False, "sqlite:///x.db")
    check_cluster_storage(3, "/mnt/shared", True, "http://mlflow:5000")
    check_local_gpus(Resources(gpu=0.25), available=1)
    with pytest.raises(ConfigError, match="resources.gpu"):
        check_local_gpus(Resources(gpu=2), available=1)


def test_a_store_copied_from_the_template_has_the_default_experiment_mlflow_itself_would_make(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # a fresh template, migrated in the first folder
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        monkeypatch.chdir(folder)
        tracking.prepare_store(default_tracking_uri(folder))
    copied = MlflowClient(default_tracking_uri(second)).get_experiment("0")
    made_by_mlflow = MlflowClient(f"sqlite:///{second / 'direct.db'}").get_experiment("0")
    assert copied.artifact_location == made_by_mlflow.artifact_location
    assert copied.artifact_location.startswith(str(second))
