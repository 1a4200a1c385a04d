"""The Ray Tune adapter: per-epoch reports with checkpoints, restore from Ray's checkpoint, a real Tuner run."""

from __future__ import annotations

import shutil
import types
from pathlib import Path

import numpy as np
import pytest
from ray import tune

from trainables import tune_session
from trainables.trial_checkpoints import load_checkpoint
from trainables.methods import METHODS

TIMES = {"train_time_s", "score_time_s", "eval_time_s"}


def flat_config(tmp_path: Path, **overrides) -> dict:
    return {
        "dataset.name": "digits",
        "encoder.arch": "small_cnn",
        "method.name": METHODS.names()[0],
        "selection.strategy": "dss",
        "train.epochs": 2,
        "train.batch_size": 512,
        "train.device": "cpu",
        "train.checkpoint_every": 2,
        "cache_dir": str(tmp_path / "cache"),
        **overrides,
    }


class FakeTune:
    """Stands in for ``ray.tune`` outside a Ray session: records reports, copies their checkpoints."""

    Checkpoint = tune.Checkpoint

    def __init__(self, tmp_path: Path, restore_from: Path | None = None) -> None:
        self.tmp_path, self.restore_from = tmp_path, restore_from
        self.reports: list[tuple[dict, Path | None]] = []

    def get_checkpoint(self):
        return tune.Checkpoint.from_directory(str(self.restore_from)) if self.restore_from else None

    def report(self, metrics, *, checkpoint=None):
        kept = None
        if checkpoint is not None:
            kept = self.tmp_path / f"reported_{metrics['epoch']}"
            shutil.copytree(checkpoint.path, kept)
        self.reports.append((metrics, kept))


@pytest.mark.slow
def test_reports_every_epoch_with_checkpoints_only_on_checkpoint_epochs_and_restores(
    tmp_path, monkeypatch, small_digits
):
    fake = FakeTune(tmp_path)
    monkeypatch.setattr(tune_session, "tune", types.SimpleNamespace(
        Checkpoint=fake.Checkpoint, get_checkpoint=fake.get_checkpoint, report=fake.report))
    config = {**flat_config(tmp_path, **{"train.epochs": 3, "train.batch_size": 128}), **small_digits}
    full = tune_session.run_under_tune(config)

    assert [m["epoch"] for m, _ in fake.reports] == [1, 2, 3]
    assert [kept is not None for _, kept in fake.reports] == [False, True, True]
    assert load_checkpoint(fake.reports[1][1])["epoch"] == 2

    restored = FakeTune(tmp_path / "second", restore_from=fake.reports[1][1])
    monkeypatch.setattr(tune_session, "tune", types.SimpleNamespace(
        Checkpoint=restored.Checkpoint, get_checkpoint=restored.get_checkpoint, report=restored.report))
    resumed = tune_session.run_under_tune(config)
    assert [m["epoch"] for m, _ in restored.reports] == [3]
    strip = lambda row: {k: v for k, v in row.items() if k not in TIMES}  # noqa: E731
    np.testing.assert_equal(strip(restored.reports[0][0]), strip(fake.reports[2][0]))
    assert np.array_equal(resumed.probabilities, full.probabilities)


@pytest.mark.slow
def test_a_real_tuner_run_reports_metrics_and_a_checkpoint(tmp_path):
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        tuner = tune.Tuner(
            tune_session.tune_trainable,
            param_space=flat_config(tmp_path),
            run_config=tune.RunConfig(storage_path=str(tmp_path / "ray"), name="engine", verbose=0),
        )
        results = tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
    assert not results.errors
    result = results[0]
    assert result.metrics["epoch"] == 2 and 0.0 <= result.metrics["acc"] <= 1.0
    assert result.metrics["samples_trained"] == 1797
    with result.checkpoint.as_directory() as directory:
        assert load_checkpoint(Path(directory))["epoch"] == 2
