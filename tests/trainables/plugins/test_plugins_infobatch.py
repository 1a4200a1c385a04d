"""InfoBatch: the rule against a direct loop implementation, its bounds and its config checks."""

from __future__ import annotations

import numpy as np
import pytest

from trainables.config import SelectionConfig, parse_trial_config
from trainables.errors import ConfigError
from trainables.plugins import SELECTION_STRATEGIES
from trainables.plugins.base import SampleScores


def make(num_samples: int, epochs: int, seed: int = 0, **config):
    selection = SelectionConfig(strategy="infobatch", **config)
    return SELECTION_STRATEGIES.get("infobatch")(selection, num_samples, seed, epochs)


def reference_plan(scores: list[float], epoch: int, epochs: int, r: float, delta: float, seed: int):
    """InfoBatch's plan of one epoch, sample by sample: (excluded set, weight list)."""
    n = len(scores)
    mean = sum(scores) / n
    well_learned = [i for i in range(n) if scores[i] < mean]
    if epoch > delta * epochs or r == 0 or not well_learned:
        return set(), [1.0] * n
    dropped = np.random.default_rng([seed, epoch]).choice(
        np.array(well_learned), size=round(r * len(well_learned)), replace=False
    )
    dropped = {int(i) for i in dropped}
    weights = [1.0 / (1.0 - r) if i in well_learned and i not in dropped else 1.0 for i in range(n)]
    return dropped, weights


@pytest.mark.parametrize(("r", "delta"), [(0.5, 0.875), (0.3, 0.6), (0.0, 1.0), (0.9, 1.0)])
def test_rule_matches_a_direct_implementation(r: float, delta: float) -> None:
    n, epochs, seed = 40, 12, 3
    rng = np.random.default_rng(0)
    selector = make(n, epochs, seed, prune_ratio=r, delta=delta)
    scores = [3.0] * n  # the reference's constant start
    excluded: set[int] = set()
    for epoch in range(1, epochs + 1):
        np.testing.assert_array_equal(selector.excluded, np.isin(np.arange(n), sorted(excluded)))
        losses = rng.gamma(2.0, 1.0, size=n)
        for i in range(n):
            if i not in excluded:
                scores[i] = float(losses[i])  # excluded samples keep their last loss
        train_loss = np.where(np.isin(np.arange(n), sorted(excluded)), np.nan, losses)
        selector.update(epoch, SampleScores(np.full(n, np.nan), np.full(n, np.nan), np.full(n, -1), train_loss))
        excluded, weights = reference_plan(scores, epoch + 1, epochs, r, delta, seed)
        got = selector.sample_weights()
        np.testing.assert_allclose(np.ones(n) if got is None else got, weights, rtol=1e-12)
        np.testing.assert_allclose(selector.scores, scores)


def test_bounds_of_one_plan() -> None:
    n, r = 1000, 0.3
    selector = make(n, epochs=10, prune_ratio=r, delta=0.5)
    losses = np.random.default_rng(1).exponential(size=n)
    selector.update(1, SampleScores(np.full(n, np.nan), np.full(n, np.nan), np.full(n, -1), losses))
    below = losses < losses.mean()
    assert not selector.excluded[~below].any()
    assert selector.excluded.sum() == round(r * below.sum())
    weights = selector.sample_weights()
    np.testing.assert_allclose(weights[below & ~selector.excluded], 1 / (1 - r))
    np.testing.assert_allclose(weights[~below | selector.excluded], 1.0)
    for epoch in range(2, 11):  # epochs 6..10 (> delta * 10) train on everything, unweighted
        selector.update(epoch, SampleScores(np.full(n, np.nan), np.full(n, np.nan), np.full(n, -1), losses))
        assert selector.excluded.any() == (epoch + 1 <= 5) and (selector.sample_weights() is None) == (epoch + 1 > 5)


def test_first_epoch_prunes_nothing_and_drops_are_uniform_over_epochs() -> None:
    n = 200
    selector = make(n, epochs=10_000, prune_ratio=0.5, delta=1.0)
    assert not selector.excluded.any() and selector.sample_weights() is None
    losses = np.where(np.arange(n) < 100, 0.1, 1.0)  # the first half is below the mean
    counts = np.zeros(n)
    for epoch in range(1, 401):
        selector.update(epoch, SampleScores(np.full(n, np.nan), np.full(n, np.nan), np.full(n, -1), losses))
        counts += selector.excluded
    assert counts[100:].sum() == 0
    assert np.abs(counts[:100] / 400 - 0.5).max() < 0.12


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("prune_ratio", 1.0, "[0, 1)"), ("prune_ratio", -0.1, "[0, 1)"), ("delta", 0.0, "(0, 1]"), ("delta", 1.5, "(0, 1]"),
])
def test_out_of_range_parameters_name_the_key(key: str, value: float, allowed: str) -> None:
    with pytest.raises(ConfigError, match=rf"^selection\.{key}: must lie in \{allowed[0]}0, 1\{allowed[-1]}"):
        parse_trial_config({"selection.strategy": "infobatch", f"selection.{key}": value})
