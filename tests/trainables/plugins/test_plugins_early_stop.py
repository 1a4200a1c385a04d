"""Early stopping from the pruning curve, against the rule written as a window over the running maximum."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from trainables.plugins.early_stop import PruningEarlyStop


def reference_stop_epoch(curve: list[int], patience: int) -> int | None:
    """First epoch t whose running maximum is positive and equal to the one `patience` epochs earlier."""
    running_max = np.maximum.accumulate(curve)
    for t in range(patience, len(curve)):  # 0-based t; epoch t + 1
        if running_max[t - patience] > 0 and running_max[t] == running_max[t - patience]:
            return t + 1
    return None


def run(curve: list[int], patience: int) -> tuple[list[bool], PruningEarlyStop]:
    stop = PruningEarlyStop(patience)
    return [stop.update(epoch, n) for epoch, n in enumerate(curve, start=1)], stop


def test_fires_at_the_expected_epoch_on_a_scripted_curve() -> None:
    # nothing pruned in epochs 1-3, the maximum grows to 40 at epoch 7, then plateaus and dips
    curve = [0, 0, 0, 10, 25, 30, 40, 38, 40, 35, 39, 41, 41]
    decisions, stop = run(curve, patience=3)
    assert stop.stop_epoch == 10 == reference_stop_epoch(curve, 3)
    assert decisions == [False] * 9 + [True] * 4
    assert stop.history == curve and stop.max_excluded == 41


def test_epochs_before_the_first_pruning_do_not_count() -> None:
    decisions, stop = run([0] * 30, patience=5)
    assert not any(decisions) and stop.stop_epoch is None
    _, stop = run([0] * 10 + [3, 3, 3], patience=2)
    assert stop.stop_epoch == 13


@pytest.mark.parametrize("patience", [1, 2, 5])
def test_matches_the_window_rule_on_random_curves(patience: int) -> None:
    rng = np.random.default_rng(patience)
    for _ in range(50):
        curve = np.where(np.arange(25) < 3, 0, rng.integers(0, 12, size=25)).tolist()
        _, stop = run(curve, patience)
        assert stop.stop_epoch == reference_stop_epoch(curve, patience), curve


def test_state_dict_round_trip_resumes_to_the_same_stop_epoch() -> None:
    curve = [0, 0, 0, 4, 9, 9, 8, 12, 12, 12, 11, 12]
    _, uninterrupted = run(curve, patience=3)
    first = PruningEarlyStop(3)
    for epoch, n in enumerate(curve[:6], start=1):
        first.update(epoch, n)
    resumed = PruningEarlyStop(7)
    resumed.load_state_dict(copy.deepcopy(first.state_dict()))
    for epoch, n in enumerate(curve[6:], start=7):
        resumed.update(epoch, n)
    assert resumed.state_dict() == uninterrupted.state_dict()
    assert resumed.stop_epoch == 11


def test_rejects_non_positive_patience() -> None:
    with pytest.raises(ValueError, match="patience must be >= 1"):
        PruningEarlyStop(0)
