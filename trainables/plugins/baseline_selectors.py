"""The comparison selectors of the paper's Fig. 5a that need no scores: ``none`` and ``random``."""

from __future__ import annotations

import numpy as np

from trainables.plugins import SELECTION_STRATEGIES
from trainables.plugins.base import SampleScores, SampleSelector

FIRST_PRUNED_EPOCH = 4  # like DSS, nothing is excluded in epochs 1-3


@SELECTION_STRATEGIES.register("none")
class NoSelection(SampleSelector):
    """Trains on every sample every epoch."""

    needs_scores = False

    def update(self, epoch: int, scores: SampleScores) -> None:
        """Nothing to update: no sample is ever excluded."""


@SELECTION_STRATEGIES.register("random")
class RandomSelection(SampleSelector):
    """Excludes a fresh uniform random ``ratio`` of the samples in each epoch from epoch 4 on.

    The excluded set of epoch e has exactly round(ratio * N) samples, drawn from a generator
    seeded by (seed, e), so it is the same whether a run is resumed or not.
    """

    needs_scores = False

    def update(self, epoch: int, scores: SampleScores) -> None:
        """Draw the excluded set of the next epoch, ``epoch + 1``."""
        self.excluded = self.excluded_in(epoch + 1)

    def excluded_in(self, epoch: int) -> np.ndarray:
        """[N] bool mask of the samples excluded in ``epoch``."""
        mask = np.zeros(self.num_samples, dtype=bool)
        if epoch >= FIRST_PRUNED_EPOCH:
            rng = np.random.default_rng([self.seed, epoch])
            count = round(self.config.ratio * self.num_samples)
            mask[rng.choice(self.num_samples, size=count, replace=False)] = True
        return mask
