"""The epoch loop on fakes: what is trained and scored, the metrics row, eval frequency, early stop, NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from trainables.engine import EpochEngine, split_batches
from trainables.trial_loop import run_epochs
from trainables.errors import TrainingError
from trainables.methods.base import Batch

DESIGN_METRICS = [
    "epoch", "acc", "nmi", "ari", "acc_high", "acc_mid", "acc_low", "ece", "pruned_frac", "pruned_acc",
    "reinclusion_frac", "mean_abs_d2s", "mean_abs_d2l", "loss", "train_time_s", "score_time_s", "eval_time_s",
    "samples_trained",
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


def freeze(parts) -> None:
    """Make training a no-op: every learning rate 0 (the fake has no BatchNorm statistics to move)."""
    for optimizer in parts.optimizers:
        for group in optimizer.param_groups:
            group["lr"] = 0.0


def expected_signals(method, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S, L and pseudo-label of the fake's fixed views (weak = 1.1 x, strong = 0.7 x), straight from the weights."""
    with torch.no_grad():
        head = lambda v: torch.softmax(method.head(method.encoder(v)), 1).double().numpy()  # noqa: E731
        p_weak, p_strong = head(x * 1.1), head(x * 0.7)
    cosine = (p_weak * p_strong).sum(1) / np.linalg.norm(p_weak, axis=1) / np.linalg.norm(p_strong, axis=1)
    label = p_weak.argmax(1)
    return cosine, -np.log(p_strong[np.arange(len(label)), label]), label


def test_trains_only_retained_and_scores_only_excluded(fakes):
    config = fakes.make_config(epochs=2)
    excluded = np.arange(0, 60, 4)
    parts = fakes.make_parts(config, lambda n: fakes.FixedSelector(n, excluded))
    engine = EpochEngine(parts, config.train, "fake")
    method = parts.method

    first = engine.run_epoch(1, is_last=False).row
    assert sorted(np.concatenate(method.trained).tolist()) == list(range(60))
    method.trained.clear()
    method.predicted.clear()

    second = engine.run_epoch(2, is_last=True).row
    trained = np.concatenate(method.trained)
    assert sorted(trained.tolist()) == sorted(set(range(60)) - set(excluded.tolist()))
    # Each trained batch is predicted (weak, strong) right before its step; then the excluded chunk; then 'val'.
    batches = [tuple(batch) for batch in method.trained]
    predicted = [tuple(call) for call in method.predicted]
    assert predicted[: 2 * len(batches)] == [batch for batch in batches for _ in range(2)]
    assert predicted[2 * len(batches): 2 * len(batches) + 2] == [tuple(excluded)] * 2
    assert not any(method.training_during_predict)
    _, scores = parts.selector.received[-1]
    assert np.isfinite(scores.consistency).all() and (scores.pseudo_label >= 0).all()
    np.testing.assert_array_equal(np.isfinite(scores.train_loss), ~np.isin(np.arange(60), excluded))
    np.testing.assert_allclose(scores.train_loss[trained], [method.emitted[i] for i in trained], rtol=1e-6)
    assert first["samples_trained"] == 60 and second["samples_trained"] == 60 - len(excluded)
    assert second["pruned_frac"] == pytest.approx(len(excluded) / 60)


def test_trained_and_scored_samples_get_the_same_signals_from_an_unchanged_model(fakes):
    config = fakes.make_config(epochs=2)  # batches of 16 for trained samples, chunks of 25 for scored ones
    excluded = np.arange(0, 60, 3)
    parts = fakes.make_parts(config, lambda n: fakes.FixedSelector(n, excluded), fixed_views=True)
    freeze(parts)
    engine = EpochEngine(parts, config.train, "fake")
    expected = expected_signals(parts.method, parts.val_set.x)
    for epoch in (1, 2):  # epoch 1 trains every sample, epoch 2 scores the excluded ones
        engine.run_epoch(epoch, is_last=epoch == 2)
        _, scores = parts.selector.received[-1]
        np.testing.assert_allclose(scores.consistency, [expected[0]], rtol=0, atol=1e-6)  # [1 head, N]
        np.testing.assert_allclose(scores.loss, [expected[1]], rtol=0, atol=1e-6)
        np.testing.assert_array_equal(scores.pseudo_label, [expected[2]])


def test_trained_samples_take_their_signals_before_their_step(fakes):
    config = fakes.make_config(epochs=2, batch_size=60)  # one step per epoch
    parts = fakes.make_parts(config, lambda n: fakes.FixedSelector(n, np.array([], dtype=int)), fixed_views=True)
    engine = EpochEngine(parts, config.train, "fake")
    for epoch in (1, 2):
        before = expected_signals(parts.method, parts.val_set.x)
        engine.run_epoch(epoch, is_last=False)
        after = expected_signals(parts.method, parts.val_set.x)
        _, scores = parts.selector.received[-1]
        np.testing.assert_allclose(scores.consistency, [before[0]], rtol=0, atol=1e-6)
        assert np.abs(after[0] - before[0]).max() > 1e-4  # the step moved the model, so the order is visible


def test_selector_weights_reach_fit_batch_and_weight_the_loss(fakes):
    config = fakes.make_config(epochs=1, batch_size=60)  # one step
    weights = np.linspace(0.2, 3.0, 60)
    none = np.array([], dtype=int)
    parts = fakes.make_parts(config, lambda n: fakes.FixedSelector(n, none, weights=weights), fixed_views=True)
    parts.optimizers = [torch.optim.SGD(parts.method.parameters(), lr=0.5)]  # Adam's first step hides scale
    EpochEngine(parts, config.train, "fake").run_epoch(1, is_last=False)
    (trained,), (passed,) = parts.method.trained, parts.method.weights
    np.testing.assert_allclose(passed.numpy(), weights[trained], rtol=1e-6)

    # The same step by hand from the identical start: SGD on mean(w * sample_loss), and on the plain loss.
    moved = {}
    for name, weight in [("weighted", weights[trained]), ("plain", None)]:
        twin = fakes.make_parts(config, lambda n: fakes.FixedSelector(n, none), fixed_views=True)
        x = twin.val_set.x[trained]
        batch = Batch(views={"weak": x * 1.1, "strong": x * 0.7}, index=torch.as_tensor(trained), label=None)
        twin.method.train()
        step = twin.method.train_step(batch)
        objective = step.loss if weight is None else (torch.as_tensor(weight, dtype=torch.float32)
                                                      * step.sample_loss).mean()
        optimizer = torch.optim.SGD(twin.method.parameters(), lr=0.5)
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()
        moved[name] = torch.cat([p.detach().flatten() for p in twin.method.parameters()])
    engine_moved = torch.cat([p.detach().flatten() for p in parts.method.parameters()])
    torch.testing.assert_close(engine_moved, moved["weighted"], rtol=0, atol=1e-6)
    assert not torch.allclose(engine_moved, moved["plain"], rtol=0, atol=1e-6)


def test_reinclusion_fraction_is_the_share_of_last_epochs_excluded_trained_now(fakes):
    masks = [np.isin(np.arange(60), ids) for ids in ([], [], np.arange(20), np.arange(10, 40), np.arange(30, 40))]

    class Scripted(fakes.FixedSelector):
        def update(self, epoch, scores):
            self.excluded = masks[epoch].copy()

    config = fakes.make_config(epochs=4)
    parts = fakes.make_parts(config, lambda n: Scripted(n, np.array([], dtype=int), needs_scores=False))
    curve = run_epochs(parts, config).curve
    got = [row["reinclusion_frac"] for row in curve]
    expected = [math.nan, math.nan, math.nan, 10 / 20]  # in force during epochs 1..4: masks[0..3]
    np.testing.assert_allclose(got, expected)
    assert [row["pruned_frac"] for row in curve] == [0, 0, 20 / 60, 30 / 60]


def test_no_signals_and_no_scoring_pass_when_the_selector_needs_no_scores(fakes):
    config = fakes.make_config(epochs=2)
    parts = fakes.make_parts(config, lambda n: fakes.FixedSelector(n, np.arange(10), needs_scores=False))
    curve = run_epochs(parts, config).curve
    assert sum(len(call) for call in parts.method.predicted) == 2 * 60  # only the two evaluations
    assert all(row["score_time_s"] == 0.0 or row["score_time_s"] < 1e-3 for row in curve)
    _, scores = parts.selector.received[-1]
    assert np.isnan(scores.consistency).all() and (scores.pseudo_label == -1).all()
    assert np.isfinite(scores.train_loss).sum() == 50


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
    assert last["mean_abs_d2s"] == 0.25 and math.isnan(last["mean_abs_d2l"])  # each selector logs its own keys
    assert last["pruned_frac"] == pytest.approx(parts.selector.excluded.mean())
    assert last["train_time_s"] > 0 and last["eval_time_s"] > 0
    assert result.stop_epoch == 3 and result.metrics == last


def test_pruned_acc_uses_the_global_hungarian_mapping_of_pseudo_labels(fakes):
    config = fakes.make_config(epochs=3)
    parts = fakes.make_parts(config)  # excludes from epoch 2's update on, so samples are left out of epoch 3
    result = run_epochs(parts, config)
    (_, before_last), (_, last) = parts.selector.received[-2:]
    (consistency,), (pseudo,), targets = before_last.consistency, last.pseudo_label, parts.targets
    excluded = consistency < np.median(consistency)  # in force during epoch 3
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
    parts.method.predict = lambda batch, view="val": predict(batch, view) * float("nan")
    with pytest.raises(TrainingError, match=r"fake predicted NaN or infinite probabilities in epoch 1;"):
        EpochEngine(parts, config.train, "fake").run_epoch(1, is_last=True)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_learning_rates_follow_the_schedule_each_epoch(fakes, schedule):
    epochs = 5
    config = fakes.make_config(epochs=epochs, lr_schedule=schedule)
    parts = fakes.make_parts(config)
    configured = [group["lr"] for optimizer in parts.optimizers for group in optimizer.param_groups]
    engine = EpochEngine(parts, config.train, "fake")
    for epoch in range(1, epochs + 1):
        engine.run_epoch(epoch, is_last=epoch == epochs)
        factor = 1.0 if schedule == "constant" else (1 + np.cos(np.pi * (epoch - 1) / epochs)) / 2
        rates = [group["lr"] for optimizer in parts.optimizers for group in optimizer.param_groups]
        np.testing.assert_allclose(rates, [rate * factor for rate in configured], rtol=1e-12)
