"""InfoBatch (Qin et al., "InfoBatch: Lossless Training Speed Up by Unbiased Dynamic Data Pruning", ICLR 2024).

The reference for dynamic data pruning, as a rival to DSS (method.md, alternatives). Per sample a score, its last
training loss (``SampleScores.train_loss``, the method's own per-sample loss), starting at a constant. Before each
epoch t with t <= delta * T (T = ``train.epochs``):
- the "well-learned" set is the samples whose score is below the mean score;
- round(r * |well-learned|) of them, drawn uniformly without replacement, are excluded from epoch t;
- the kept well-learned samples get loss weight 1 / (1 - r), every other sample weight 1, so that the expected
  gradient matches training on everything.
Epochs t > delta * T train on everything, unweighted. Excluded samples are not scored: they keep their old score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainables.config import SelectionConfig
from trainables.plugins import SELECTION_STRATEGIES
from trainables.plugins.base import SampleScores, SampleSelector

INITIAL_SCORE = 3.0  # the reference implementation's; any constant leaves epoch 1 unpruned (nothing is below mean)


@SELECTION_STRATEGIES.register("infobatch")
class InfoBatchSelection(SampleSelector):
    """InfoBatch's rule with r = ``config.prune_ratio`` and delta = ``config.delta`` (see the module docstring).

    The draw of epoch t comes from a generator seeded by (seed, t), so it is the same whether a run resumed or not.
    """

    needs_scores = False

    def __init__(self, config: SelectionConfig, num_samples: int, seed: int, epochs: int) -> None:
        super().__init__(config, num_samples, seed, epochs)
        self.scores = np.full(num_samples, INITIAL_SCORE)
        self.weights: np.ndarray | None = None

    def update(self, epoch: int, scores: SampleScores) -> None:
        """Take the trained samples' losses as their scores, then draw the exclusions and weights of ``epoch + 1``."""
        trained = np.isfinite(scores.train_loss)
        self.scores[trained] = scores.train_loss[trained]
        self.excluded, self.weights = self.plan(epoch + 1)

    def plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray | None]:
        """[N] exclusion mask and [N] loss weights (None: all 1) of ``epoch`` from the current scores."""
        excluded = np.zeros(self.num_samples, dtype=bool)
        ratio = self.config.prune_ratio
        if epoch > self.config.delta * self.epochs or ratio == 0:
            return excluded, None
        well_learned = np.flatnonzero(self.scores < self.scores.mean())
        if well_learned.size == 0:
            return excluded, None
        rng = np.random.default_rng([self.seed, epoch])
        excluded[rng.choice(well_learned, size=round(ratio * well_learned.size), replace=False)] = True
        weights = np.ones(self.num_samples)
        weights[well_learned] = 1.0 / (1.0 - ratio)
        weights[excluded] = 1.0
        return excluded, weights

    def sample_weights(self) -> np.ndarray | None:
        return self.weights

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "scores": self.scores.copy(), "weights": self.weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.scores = np.asarray(state["scores"], dtype=np.float64).copy()
        self.weights = None if state["weights"] is None else np.asarray(state["weights"], dtype=np.float64).copy()
