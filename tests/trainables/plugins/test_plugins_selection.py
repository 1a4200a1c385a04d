"""Sample selectors: DSS and ``loss`` on scripted sequences, ``random`` and ``none`` by definition, and
resume and contract checks over every registered strategy."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from trainables.config import SelectionConfig
from trainables.plugins import SELECTION_STRATEGIES
from trainables.plugins.base import SampleScores

NAN = np.nan
EPOCHS = 8
# One row per sample, one column per epoch 1..8, with labels and the expected "excluded after epoch t".
SCRIPT = {
    "constant": ([0.5] * 8, [0] * 8, [0, 0, 1, 1, 1, 1, 1, 1]),
    "linear trend (D2 = 0)": ([0.1 * t for t in range(1, 9)], [1] * 8, [0, 0, 1, 1, 1, 1, 1, 1]),
    "curving (|D2| = 0.2)": ([0.1 * t * t for t in range(1, 9)], [1] * 8, [0] * 8),
    "label flips at 5": ([0.9] * 8, [0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0, 1, 1]),
    "jump at 5": ([0.5, 0.5, 0.5, 0.5, 0.9, 0.5, 0.5, 0.5], [2] * 8, [0, 0, 1, 1, 0, 0, 0, 1]),
    "unseen at 2": ([0.5, NAN, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], [0, -1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1, 1, 1]),
}
SIGNAL = np.array([row[0] for row in SCRIPT.values()]).T  # [epochs, N]
LABELS = np.array([row[1] for row in SCRIPT.values()]).T
EXPECTED = np.array([row[2] for row in SCRIPT.values()], dtype=bool).T


def make(name: str, num_samples: int, seed: int = 0, epochs: int = 100, **config) -> object:
    return SELECTION_STRATEGIES.get(name)(SelectionConfig(strategy=name, **config), num_samples, seed, epochs)


def scores(consistency, loss, labels, train_loss=None) -> SampleScores:
    consistency = np.asarray(consistency, float)
    train_loss = np.full(consistency.shape, np.nan) if train_loss is None else np.asarray(train_loss, float)
    return SampleScores(consistency, np.asarray(loss, float), np.asarray(labels, np.int64), train_loss)


def brute_force_excluded(signal: np.ndarray, labels: np.ndarray, epsilon: float) -> np.ndarray:
    """[T, N] "excluded after epoch t", evaluated sample by sample from the full history (method.md)."""
    excluded = np.zeros(signal.shape, dtype=bool)
    for t in range(2, signal.shape[0]):
        for i in range(signal.shape[1]):
            s0, s1, s2 = signal[t - 2 : t + 1, i]
            d2 = s2 - 2 * s1 + s0
            steady = labels[t, i] == labels[t - 1, i] == labels[t - 2, i]
            excluded[t, i] = bool(abs(d2) < epsilon) and steady  # NaN compares False
    return excluded


@pytest.mark.parametrize(("name", "noise_in"), [("dss", "loss"), ("loss", "consistency")])
def test_stability_rule_on_scripted_sequences(name: str, noise_in: str) -> None:
    selector = make(name, SIGNAL.shape[1], epsilon=0.1)
    noise = np.random.default_rng(0).uniform(size=SIGNAL.shape)  # the other signal must be ignored
    rng = np.random.default_rng(1)
    for t in range(EPOCHS):
        retained = selector.retained(t + 1, rng)
        np.testing.assert_array_equal(np.sort(retained), np.flatnonzero(~selector.excluded))
        signals = {"consistency": SIGNAL[t], "loss": SIGNAL[t], noise_in: noise[t]}
        selector.update(t + 1, scores(signals["consistency"], signals["loss"], LABELS[t]))
        np.testing.assert_array_equal(selector.excluded, EXPECTED[t], err_msg=f"after epoch {t + 1}")
    np.testing.assert_array_equal(EXPECTED, brute_force_excluded(SIGNAL, LABELS, 0.1))


@pytest.mark.parametrize("name", ["dss", "loss"])
def test_stability_rule_matches_brute_force_on_random_histories(name: str) -> None:
    rng = np.random.default_rng(2)
    signal = 0.5 + np.cumsum(rng.normal(scale=0.03, size=(10, 200)), axis=0)
    signal[rng.uniform(size=signal.shape) < 0.03] = np.nan
    labels = np.where(rng.uniform(size=signal.shape) < 0.1, 1, 0)
    selector = make(name, 200, epsilon=0.05)
    expected = brute_force_excluded(signal, labels, 0.05)
    for t in range(signal.shape[0]):
        selector.update(t + 1, scores(signal[t], signal[t], labels[t]))
        np.testing.assert_array_equal(selector.excluded, expected[t])
    assert 0 < expected[-1].sum() < 200  # the comparison is not trivially all or nothing


@pytest.mark.parametrize("name", ["dss", "loss"])
def test_several_heads_keep_one_history_each_and_the_predicting_head_decides(name: str) -> None:
    rng = np.random.default_rng(3)
    heads, epochs, n = 3, 10, 200
    signal = 0.5 + np.cumsum(rng.normal(scale=0.03, size=(epochs, heads, n)), axis=0)
    labels = np.where(rng.uniform(size=signal.shape) < 0.1, 1, 0)
    predicting = [0, 0, 2, 2, 1, 1, 1, 0, 2, 2]  # the chosen head changes, as SCAN's does
    expected = {h: brute_force_excluded(signal[:, h], labels[:, h], 0.05) for h in range(heads)}
    selector = make(name, n, epsilon=0.05)
    for t in range(epochs):
        if t == 6:  # resuming mid-run keeps every head's history
            state = copy.deepcopy(selector.state_dict())
            selector = make(name, n, epsilon=0.05)
            selector.load_state_dict(state)
        head = predicting[t]
        selector.update(t + 1, SampleScores(signal[t], signal[t], labels[t], np.full(n, np.nan), head=head))
        np.testing.assert_array_equal(selector.excluded, expected[head][t], err_msg=f"after epoch {t + 1}")
        defined = np.isfinite(selector.d2)
        d2 = signal[t, head] - 2 * signal[t - 1, head] + signal[t - 2, head] if t >= 2 else np.full(n, np.nan)
        np.testing.assert_allclose(selector.d2[defined], d2[defined])
    # The switches to heads 1 (epoch 5) and 0 (epoch 8) land on heads whose own windows already exclude samples.
    assert expected[1][4].any() and expected[0][7].any()


@pytest.mark.parametrize("name", ["dss", "loss"])
def test_a_checkpoint_from_before_per_head_histories_resumes_as_one_head(name: str) -> None:
    """Checkpoints written before the per-head history hold [WINDOW, N] arrays; they resume as one head's history."""
    rng = np.random.default_rng(4)
    signal = 0.5 + np.cumsum(rng.normal(scale=0.03, size=(8, 200)), axis=0)
    labels = np.where(rng.uniform(size=signal.shape) < 0.1, 1, 0)
    expected = brute_force_excluded(signal, labels, 0.05)
    selector = make(name, 200, epsilon=0.05)
    for t in range(5):
        selector.update(t + 1, scores(signal[t], signal[t], labels[t]))
    state = copy.deepcopy(selector.state_dict())
    old_state = {**state, "values": state["values"][:, 0], "labels": state["labels"][:, 0]}  # the old layout
    assert old_state["values"].shape == (3, 200)
    resumed = make(name, 200, epsilon=0.05)
    resumed.load_state_dict(old_state)
    for t in range(5, 8):
        resumed.update(t + 1, scores(signal[t], signal[t], labels[t]))
        np.testing.assert_array_equal(resumed.excluded, expected[t], err_msg=f"after epoch {t + 1}")
    assert expected[5].any()  # the first resumed epoch already needs the loaded window


def test_epsilon_is_a_strict_bound() -> None:
    signal = [0.25, 0.0, 0.0]  # D2 = 0.25 exactly in binary floating point
    for epsilon, excluded in [(0.25, False), (0.2500001, True)]:
        selector = make("dss", 1, epsilon=epsilon)
        for t, value in enumerate(signal, start=1):
            selector.update(t, scores([value], [0.0], [3]))
        assert selector.excluded[0] == excluded


def test_dss_summary_reports_mean_abs_d2_over_defined_samples() -> None:
    selector = make("dss", SIGNAL.shape[1], epsilon=0.1)
    for t in range(EPOCHS):
        selector.update(t + 1, scores(SIGNAL[t], SIGNAL[t], LABELS[t]))
        summary = selector.summary()
        assert list(summary) == ["mean_abs_d2s"] == list(selector.metric_keys)
        if t < 2:
            assert summary["mean_abs_d2s"] == 0.0
        else:
            d2 = SIGNAL[t] - 2 * SIGNAL[t - 1] + SIGNAL[t - 2]
            assert summary["mean_abs_d2s"] == pytest.approx(np.nanmean(np.abs(d2)))
    assert make("loss", 3).metric_keys == ("mean_abs_d2l",)


def test_priority_draws_retained_samples_in_proportion_to_abs_d2() -> None:
    selector = make("dss", 5, epsilon=0.05, priority=True)
    history = np.array([[0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, NAN], [0.0, 0.1, 0.3, 0.02, 0.0]])
    for t, row in enumerate(history, start=1):
        selector.update(t, scores(row, row, [0] * 5))
    retained = np.flatnonzero(~selector.excluded)
    np.testing.assert_array_equal(retained, [1, 2, 4])  # 0 and 3 are stable, 4 was unseen
    mass = np.array([0.1, 0.3, 0.3])  # the unseen sample counts as the most unstable
    expected = (mass + 0.01 * mass.mean()) / (mass + 0.01 * mass.mean()).sum()
    rng = np.random.default_rng(3)
    draws = np.concatenate([selector.retained(4, rng) for _ in range(4000)])
    assert draws.size == 3 * 4000 and np.isin(draws, retained).all()
    frequency = np.array([(draws == i).mean() for i in retained])
    np.testing.assert_allclose(frequency, expected, atol=0.015)


def test_priority_floor_keeps_samples_with_zero_d2_drawable() -> None:
    selector = make("dss", 3, epsilon=0.0, priority=True)  # epsilon 0: nothing is ever stable
    for t in range(1, 4):
        selector.update(t, scores([0.0, 0.0, 0.1 * t * t], [0.0] * 3, [0] * 3))
    draws = np.concatenate([selector.retained(4, np.random.default_rng(seed)) for seed in range(3000)])
    assert (draws == 0).any() and (draws == 2).mean() > 0.9


def test_random_excludes_a_fresh_exact_fraction_from_epoch_4_seeded_by_epoch() -> None:
    num_samples, ratio = 50, 0.3
    selector = make("random", num_samples, seed=4, ratio=ratio)
    twin = make("random", num_samples, seed=4, ratio=ratio)
    other_seed = make("random", num_samples, seed=5, ratio=ratio)
    masks = []
    for t in range(1, 200):
        selector.update(t, scores([NAN] * num_samples, [NAN] * num_samples, [-1] * num_samples))
        assert selector.excluded.sum() == (0 if t + 1 < 4 else round(ratio * num_samples))
        np.testing.assert_array_equal(selector.excluded, twin.excluded_in(t + 1))
        masks.append(selector.excluded.copy())
    assert not np.array_equal(masks[3], masks[4])
    assert not np.array_equal(masks[3], other_seed.excluded_in(5))
    frequency = np.mean(masks[2:], axis=0)  # uniform: every sample is excluded about `ratio` of the time
    assert np.abs(frequency - ratio).max() < 0.15


def test_none_never_excludes_and_skips_scoring() -> None:
    selector = make("none", 6)
    assert selector.needs_scores is False
    for t in range(EPOCHS):
        selector.update(t + 1, scores(SIGNAL[t], SIGNAL[t], LABELS[t]))
        assert not selector.excluded.any()
    assert make("random", 6).needs_scores is False and make("dss", 6).needs_scores is True


def stable_ish_scores(epoch: int, num_samples: int) -> SampleScores:
    rng = np.random.default_rng(epoch)
    return scores(
        0.5 + rng.normal(scale=0.03, size=num_samples),
        1.0 + rng.normal(scale=0.03, size=num_samples),
        (rng.uniform(size=num_samples) < 0.1).astype(int),
        2.0 + rng.normal(scale=0.5, size=num_samples),
    )


@pytest.mark.parametrize("priority", [False, True])
@pytest.mark.parametrize("name", SELECTION_STRATEGIES.names())
def test_every_selector_keeps_the_contract_and_resumes_bitwise(name: str, priority: bool) -> None:
    num_samples = 300
    selector = make(name, num_samples, seed=9, epsilon=0.1, ratio=0.2, priority=priority)
    for t in range(1, 6):
        if t <= (3 if name != "infobatch" else 1):  # InfoBatch has no warm-up beyond its constant start
            assert not selector.excluded.any(), f"{name} excluded samples in epoch {t}"
        retained = selector.retained(t, np.random.default_rng(t))
        assert not selector.excluded[retained].any()
        if not priority:
            np.testing.assert_array_equal(np.sort(retained), np.flatnonzero(~selector.excluded))
        selector.update(t, stable_ish_scores(t, num_samples))
        assert selector.excluded.dtype == bool and selector.excluded.shape == (num_samples,)
        assert set(selector.summary()) == set(selector.metric_keys)
    state = copy.deepcopy(selector.state_dict())
    assert all(isinstance(v, (np.ndarray, int, float, bool, type(None))) for v in state.values())
    resumed = make(name, num_samples, seed=9, epsilon=0.1, ratio=0.2, priority=priority)
    resumed.load_state_dict(state)
    for t in range(6, 10):
        for run in (selector, resumed):
            run.update(t, stable_ish_scores(t, num_samples))
        np.testing.assert_array_equal(resumed.excluded, selector.excluded)
        for weights in (resumed.sample_weights(), selector.sample_weights()):
            assert weights is None or weights.shape == (num_samples,)
        np.testing.assert_array_equal(resumed.sample_weights(), selector.sample_weights())
        assert resumed.summary() == selector.summary()
        np.testing.assert_array_equal(
            resumed.retained(t + 1, np.random.default_rng(t)), selector.retained(t + 1, np.random.default_rng(t))
        )
    if name != "none":
        assert selector.excluded.any()  # resume was compared on a non-trivial state


def test_short_stability_trials_get_one_warm_up_warning_per_distinct_setting() -> None:
    from trainables.plugins import selection_warnings
    from trainables.validation import validate_trial_config

    configs = [
        {"selection.strategy": "dss", "train.epochs": 6},
        {"selection.strategy": "dss", "train.epochs": 6, "train.seed": 1},  # same warning, shown once
        {"selection.strategy": "loss", "train.epochs": 9},
        {"selection.strategy": "dss", "train.epochs": 10},  # long enough
        {"selection.strategy": "none", "train.epochs": 2},
        {"selection.strategy": "infobatch", "train.epochs": 2},
    ]
    lines = selection_warnings(validate_trial_config(config) for config in configs)
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert "'dss' with train.epochs 6" in lines[0] and "before epoch 4" in lines[0]
    assert "'loss' with train.epochs 9" in lines[1] and "train.epochs to 10" in lines[1]
