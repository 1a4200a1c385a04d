"""run_trial end to end on the bundled digits with real parts: callbacks, metrics, bitwise resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.datasets import load_digits

from trainables import run_trial
from trainables.errors import CheckpointError, ConfigError
from trainables.methods import METHODS

TIMES = {"train_time_s", "score_time_s", "eval_time_s"}


class Recorder:
    """Keeps every callback call and a copy of the checkpoint of epoch ``keep``."""

    def __init__(self, keep: int, target: Path) -> None:
        self.keep, self.target = keep, target
        self.epochs: list[tuple[int, dict, bool]] = []
        self.results: list = []

    def on_epoch_end(self, epoch, metrics, checkpoint_dir):
        self.epochs.append((epoch, metrics, checkpoint_dir is not None))
        if epoch == self.keep:
            shutil.copytree(checkpoint_dir, self.target)

    def on_trial_end(self, result):
        self.results.append(result)


def digits_config(tmp_path: Path, method: str, **overrides) -> dict:
    return {
        "dataset.name": "digits",
        "encoder.arch": "small_cnn",
        "method.name": method,
        "selection.strategy": "dss",
        "init.strategy": "prototype",
        "train.epochs": 2,
        "train.batch_size": 256,
        "train.device": "cpu",
        "train.seed": 3,
        "cache_dir": str(tmp_path / "cache"),
        **overrides,
    }


def _without_times(curve):
    return [{k: v for k, v in row.items() if k not in TIMES} for row in curve]


@pytest.mark.slow
def test_run_trial_on_digits_reports_every_epoch_and_true_accuracy(tmp_path):
    recorder = Recorder(keep=1, target=tmp_path / "kept")
    result = run_trial(digits_config(tmp_path, "cc"), callbacks=[recorder], workdir=tmp_path / "work")

    assert [(epoch, has_checkpoint) for epoch, _, has_checkpoint in recorder.epochs] == [(1, True), (2, True)]
    assert recorder.results == [result] and result.stop_epoch == 2
    assert [metrics for _, metrics, _ in recorder.epochs] == result.curve
    labels = load_digits().target
    assert result.probabilities.shape == (len(labels), 10)
    np.testing.assert_allclose(result.probabilities.sum(1), 1.0, atol=1e-5)
    contingency = np.zeros((10, 10))
    np.add.at(contingency, (result.predictions, labels), 1)
    rows, cols = linear_sum_assignment(-contingency)
    assert result.metrics["acc"] == pytest.approx(contingency[rows, cols].sum() / len(labels))
    assert result.metrics["samples_trained"] == len(labels)  # nothing is excluded before epoch 4
    assert [p.name for p in (tmp_path / "work" / "checkpoints").iterdir()] == ["epoch_0002"]


# Shrinks the slow parts of a method's set-up so that the test stays fast; what is computed is unchanged in kind.
FAST_PARAMS = {"cdc": {"method.params.orth_steps": 20, "method.params.hidden_dim": 64}}


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS.names())
def test_resume_of_every_method_is_bitwise_identical_on_cpu(tmp_path, small_digits, method):
    # A loose epsilon makes DSS exclude samples from epoch 4 on, so the resumed epoch trains and scores; with
    # seed 3, CDC's clusters swap labels between epochs 2 and 3 under one draw of views and nothing is excluded.
    config = {**digits_config(tmp_path, method, **{"train.batch_size": 128, "train.epochs": 5,
                                                   "selection.epsilon": 1.0, "train.seed": 4}),
              **small_digits, **FAST_PARAMS.get(method, {})}
    recorder = Recorder(keep=4, target=tmp_path / "kept")
    full = run_trial(config, callbacks=[recorder])
    resumed = run_trial(config, resume_from=tmp_path / "kept")
    assert full.curve[-1]["samples_trained"] < 400  # some samples were excluded and scored in epoch 5
    np.testing.assert_equal(_without_times(resumed.curve), _without_times(full.curve))
    assert np.array_equal(resumed.probabilities, full.probabilities)


def test_corrupt_resume_checkpoint_raises_checkpoint_error(tmp_path):
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "state.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError):
        run_trial(digits_config(tmp_path, METHODS.names()[0]), resume_from=tmp_path / "kept")


def test_invalid_config_raises_config_error_before_anything_runs(tmp_path):
    with pytest.raises(ConfigError, match="train.epochs"):
        run_trial(digits_config(tmp_path, METHODS.names()[0], **{"train.epochs": 0}))
    assert not (tmp_path / "cache").exists()


def test_kmeans_reference_scores_the_pre_trained_features_as_scikit_learn_does():
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from trainables.trial import kmeans_reference

    features, labels = make_blobs(600, n_features=8, centers=4, cluster_std=3.0, random_state=0)
    normalised = features / np.linalg.norm(features, axis=1, keepdims=True)
    direct = KMeans(4, n_init=10, random_state=0).fit_predict(normalised)
    reference = kmeans_reference(features, labels.astype(np.int64), 4, seed=0)
    contingency = np.zeros((4, 4))
    np.add.at(contingency, (direct, labels), 1)
    rows, cols = linear_sum_assignment(-contingency)
    assert reference["kmeans_acc"] == pytest.approx(contingency[rows, cols].sum() / len(labels), abs=0.01)
    assert reference["kmeans_nmi"] == pytest.approx(normalized_mutual_info_score(labels, direct), abs=0.01)
    assert reference["kmeans_ari"] == pytest.approx(adjusted_rand_score(labels, direct), abs=0.01)
