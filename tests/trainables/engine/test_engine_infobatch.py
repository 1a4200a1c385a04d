"""The engine under InfoBatch: kept samples are trained with the planned loss weights, pruned ones not at all."""

from __future__ import annotations

import numpy as np
import pytest

from trainables.config import SelectionConfig
from trainables.trial_loop import run_epochs
from trainables.plugins.infobatch import InfoBatchSelection


def test_engine_trains_the_kept_samples_with_the_planned_weights(fakes) -> None:
    config = fakes.make_config(epochs=4)
    plans: list[tuple[np.ndarray, np.ndarray | None]] = []

    def factory(n: int):
        selection = SelectionConfig(strategy="infobatch", prune_ratio=0.5, delta=0.75)
        selector = InfoBatchSelection(selection, n, seed=5, epochs=4)
        plan = selector.plan

        def recorded(epoch: int):
            plans.append(plan(epoch))
            return plans[-1]

        selector.plan = recorded
        return selector

    parts = fakes.make_parts(config, factory)
    curve = run_epochs(parts, config).curve
    method = parts.method
    assert len(plans) == 4 and plans[-1][1] is None  # epoch 4 > 0.75 * 4: everything, unweighted
    batches_per_epoch = [0]
    for epoch, row in enumerate(curve, start=1):
        trained = row["samples_trained"]
        excluded = np.zeros(60, dtype=bool) if epoch == 1 else plans[epoch - 2][0]
        assert trained == 60 - excluded.sum() and row["pruned_frac"] == pytest.approx(excluded.mean())
        batches_per_epoch.append(batches_per_epoch[-1] + -(-trained // 16))
    assert curve[1]["pruned_frac"] > 0 and curve[3]["pruned_frac"] == 0
    for epoch in range(1, 5):
        weights = None if epoch == 1 else plans[epoch - 2][1]
        for step in range(batches_per_epoch[epoch - 1], batches_per_epoch[epoch]):
            index, passed = method.trained[step], method.weights[step]
            assert not (epoch > 1 and plans[epoch - 2][0][index].any())
            if weights is None:
                assert passed is None
            else:
                np.testing.assert_allclose(passed.numpy(), weights[index], rtol=1e-6)
    assert sum(len(call) for call in method.predicted) == 4 * 60  # evaluation only: InfoBatch needs no signals
