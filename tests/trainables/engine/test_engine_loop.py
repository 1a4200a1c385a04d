"""The epoch loop on fakes: what is trained and scored, the metrics row, eval frequency, early stop, NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from trainables.engine import EpochEngine, run_epochs, split_batches
from trainables.errors import TrainingError

DESIGN_METRICS = [
    "epoch", "acc", "nmi", "ari", "acc_high", "acc_mid", "acc_low", "ece", "pruned_frac", "pruned_acc",
    "mean_abs_d2s", "loss", "train_time_s", "score_time_s", "eval_time_s", "samples_trained",
]


@pytest.mark.parametrize("n, batch_size", [(0, 8), (1, 8), (2, 8), (9, 8), (16, 8), (17, 8), (100, 7)])
def test_split_batches_covers_every_sample_without_tiny_batches(n, batch_size):
    order = np.random.default_rng(n).permutation(n)
    batches = split_batches(order, batch_size)
    if n < 2:
        assert batches == []
        return
    assert np.array_equal(np.concatenate(batches), order)
    sizes = [len(b) for b in batches]
    assert max(sizes) <= batch_size and max(sizes) - min(sizes) <= 1
    assert len(batches) == -(-n // batch_size)


def test_trains_only_retained_and_scores_only_excluded(fakes):
    config = fakes.make_config(epochs=2)
    excluded = np.arange(0, 60, 4)
    parts = fakes.make_parts(config, lambda n: fakes.FixedSelector(n, excluded))
    engine = EpochEngine(parts, config.train, "fake")
    method = parts.method

    first = engine.run_epoch(1, is_last=False).row
    assert sorted(np.concatenate(method.trained).tolist()) == list(range(60))
    assert method.scored == []
    method.trained.clear()

    second = engine.run_epoch(2, is_last=True).row
    trained = np.concatenate(method.trained)
    assert sorted(trained.tolist()) == sorted(set(range(60)) - set(excluded.tolist()))
    assert sorted(np.concatenate(method.scored).tolist()) == excluded.tolist()
    assert first["samples_trained"] == 60 and second["samples_trained"] == 60 - len(excluded)
    assert second["pruned_frac"] == pytest.approx(len(excluded) / 60)


def test_selector_receives_cosine_consistency_loss_and_pseudo_labels_for_every_sample(fakes):
    config = fakes.make_config(epochs=2)
    parts = fakes.make_parts(config, lambda n: fakes.FixedSelector(n, np.arange(10)))
    engine = EpochEngine(parts, config.train, "fake")
    engine.run_epoch(1, is_last=False)
    parts.method.emitted.clear()
    engine.run_epoch(2, is_last=True)

    epoch, scores = parts.selector.received[-1]
    assert epoch == 2
    p_weak = np.stack([parts.method.emitted[i][0] for i in range(60)]).astype(np.float64)
    p_strong = np.stack([parts.method.emitted[i][1] for i in range(60)]).astype(np.float64)
    cosine = (p_weak * p_strong).sum(1) / np.linalg.norm(p_weak, axis=1) / np.linalg.norm(p_strong, axis=1)
    np.testing.assert_allclose(scores.consistency, cosine, rtol=1e-6)
    np.testing.assert_array_equal(scores.pseudo_label, p_weak.argmax(1))
    assert np.all(np.isfinite(scores.loss))


def test_missing_distributions_are_completed_by_predict_on_weak_and_strong_views(fakes):
    config = fakes.make_config(epochs=1)
    parts = fakes.make_parts(config, lambda n: fakes.FixedSelector(n, np.arange(5)), fixed_views=True,
                             with_probs=False)
    EpochEngine(parts, config.train, "fake").run_epoch(1, is_last=True)

    _, scores = parts.selector.received[-1]
    method = parts.method
    x = parts.val_set.x
    with torch.no_grad():
        head = lambda v: torch.softmax(method.head(method.encoder(v)), 1).double().numpy()  # noqa: E731
        p_weak, p_strong = head(x * 1.1), head(x * 0.7)
    cosine = (p_weak * p_strong).sum(1) / np.linalg.norm(p_weak, axis=1) / np.linalg.norm(p_strong, axis=1)
    np.testing.assert_allclose(scores.consistency, cosine, rtol=1e-6)
    np.testing.assert_array_equal(scores.pseudo_label, p_weak.argmax(1))


def test_no_scoring_pass_when_the_selector_needs_no_scores(fakes):
    config = fakes.make_config(epochs=2)
    parts = fakes.make_parts(config, lambda n: fakes.FixedSelector(n, np.arange(10), needs_scores=False))
    curve = run_epochs(parts, config).curve
    assert parts.method.scored == []
    assert curve[1]["score_time_s"] == 0.0 or curve[1]["score_time_s"] < 1e-3


def test_metrics_row_has_exactly_the_design_keys_and_consistent_values(fakes):
    config = fakes.make_config(epochs=3)
    parts = fakes.make_parts(config)
    result = run_epochs(parts, config)
    assert [list(row) for row in result.curve] == [DESIGN_METRICS] * 3
    last = result.curve[-1]

    predictions = result.probabilities.argmax(1)
    np.testing.assert_array_equal(result.predictions, predictions)
    contingency = np.zeros((3, 3))
    np.add.at(contingency, (predictions, parts.targets), 1)
    rows, cols = linear_sum_assignment(-contingency)
    assert last["acc"] == pytest.approx(contingency[rows, cols].sum() / 60)
    assert last["mean_abs_d2s"] == 0.25
    assert last["pruned_frac"] == pytest.approx(parts.selector.excluded.mean())
    assert last["train_time_s"] > 0 and last["eval_time_s"] > 0
    assert result.stop_epoch == 3 and result.metrics == last


def test_pruned_acc_uses_the_global_hungarian_mapping_of_pseudo_labels(fakes):
    config = fakes.make_config(epochs=3)
    parts = fakes.make_parts(config)  # excludes from epoch 2's update on, so samples are left out of epoch 3
    result = run_epochs(parts, config)
    (_, before_last), (_, last) = parts.selector.received[-2:]
    excluded = before_last.consistency < np.median(before_last.consistency)  # in force during epoch 3
    pseudo, targets = last.pseudo_label, parts.targets
    contingency = np.zeros((3, 3))
    np.add.at(contingency, (pseudo, targets), 1)
    rows, cols = linear_sum_assignment(-contingency)
    mapping = dict(zip(rows, cols))
    expected = np.mean([mapping.get(p, -1) == t for p, t in zip(pseudo[excluded], targets[excluded])])
    assert excluded.any()
    assert result.curve[-1]["pruned_frac"] == pytest.approx(excluded.mean())
    assert result.curve[-1]["pruned_acc"] == pytest.approx(expected)
    assert all(math.isnan(row["pruned_acc"]) and row["pruned_frac"] == 0 for row in result.curve[:2])


def test_evaluates_every_eval_every_epochs_and_always_on_the_last(fakes):
    config = fakes.make_config(epochs=5, eval_every=2)
    parts = fakes.make_parts(config)
    curve = run_epochs(parts, config).curve
    evaluated = [row["epoch"] for row in curve if not math.isnan(row["acc"])]
    assert evaluated == [2, 4, 5]
    assert all(row["eval_time_s"] == 0.0 for row in curve if row["epoch"] not in evaluated)


def test_early_stop_ends_the_loop_and_evaluates_the_stop_epoch(fakes, tmp_path):
    config = fakes.make_config(epochs=6, eval_every=10, checkpoint_every=10)
    stop = fakes.StopAt(3)
    parts = fakes.make_parts(config, early_stop=stop)
    result = run_epochs(parts, config, workdir=tmp_path)
    assert [row["epoch"] for row in result.curve] == [1, 2, 3]
    assert result.stop_epoch == 3
    assert not math.isnan(result.curve[-1]["acc"])
    assert [epoch for epoch, _ in stop.seen] == [1, 2, 3]
    assert stop.seen[-1][1] == int(parts.selector.excluded.sum())
    assert [path.name for path in (tmp_path / "checkpoints").iterdir()] == ["epoch_0003"]


def test_nan_loss_raises_training_error_naming_epoch_and_method(fakes, tmp_path):
    config = fakes.make_config(epochs=3, batch_size=20)
    parts = fakes.make_parts(config, nan_after_steps=4)  # 3 steps per epoch: NaN in epoch 2
    with pytest.raises(TrainingError, match=r"fake loss became nan in epoch 2;"):
        run_epochs(parts, config, workdir=tmp_path)
    assert [path.name for path in (tmp_path / "checkpoints").iterdir()] == ["epoch_0001"]


def test_frozen_encoder_is_not_trained_and_stays_in_eval_mode(fakes):
    config = fakes.make_config(epochs=2, encoder_mode="frozen")
    parts = fakes.make_parts(config)
    encoder_before = [p.detach().clone() for p in parts.method.encoder.parameters()]
    head_before = [p.detach().clone() for p in parts.method.head.parameters()]
    run_epochs(parts, config)
    assert all(torch.equal(a, b) for a, b in zip(encoder_before, parts.method.encoder.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(head_before, parts.method.head.parameters()))
    assert parts.method.encoder_training_during_step and not any(parts.method.encoder_training_during_step)
    optimised = {id(p) for optimizer in parts.optimizers for group in optimizer.param_groups for p in group["params"]}
    assert not optimised & {id(p) for p in parts.method.encoder.parameters()}


def test_nan_predictions_raise_training_error(fakes):
    config = fakes.make_config(epochs=1)
    parts = fakes.make_parts(config)
    predict = parts.method.predict
    parts.method.predict = lambda batch: predict(batch) * float("nan")
    with pytest.raises(TrainingError, match=r"fake predicted NaN or infinite probabilities in epoch 1;"):
        EpochEngine(parts, config.train, "fake").run_epoch(1, is_last=True)
