"""Dynamic sample selection by second-difference stability (method.md, DSS, and the ``loss`` variant).

After epoch t, with a per-sample signal x (S = cos(P^w, P^s) for ``dss``, the loss signal
L = -log P^s[argmax P^w] for ``loss``; see ``SampleScores``) and pseudo-labels l of the last three epochs:

    D2_i = x^(t) - 2 x^(t-1) + x^(t-2)
    stable_i = |D2_i| < epsilon  and  l^(t) == l^(t-1) == l^(t-2)

Stable samples are excluded from epoch t + 1; all others, including previously excluded samples that
became unstable, are trained. Until three values exist D2 is undefined, so nothing is excluded in
epochs 1-3; a sample with a NaN value (not seen) in the window is never stable.

A method with several heads (SCAN's ``heads``) gives a signal and a pseudo-label per head (``SampleScores``); the
rule keeps one history per head and excludes by the head the method predicts with. So when that choice changes,
the newly chosen head's exclusions rest on its own three epochs, not on a window that mixes two heads.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from trainables.config import SelectionConfig, TrialConfig
from trainables.metric_names import MEAN_ABS_D2L, MEAN_ABS_D2S
from trainables.plugins import SELECTION_STRATEGIES
from trainables.plugins.base import SampleScores, SampleSelector

WINDOW = 3
PRIORITY_FLOOR = 0.01  # share of the mean |D2| added to every sample's sampling mass
# Nothing is excluded before epoch WINDOW + 1 = 4; a shorter schedule than this leaves the rule too few epochs to act.
MIN_USEFUL_EPOCHS = 10


class StabilitySelector(SampleSelector):
    """Excludes samples whose signal has a flat second difference and whose pseudo-label is steady.

    Subclasses name the signal (``signal``) and the one key of ``metric_keys``, under which the mean |D2|
    over the samples where it is defined is logged. With ``config.priority``, ``retained`` samples the
    retained set with replacement, with probability proportional to |D2_i| plus a small floor.
    """

    def __init__(self, config: SelectionConfig, num_samples: int, seed: int, epochs: int) -> None:
        super().__init__(config, num_samples, seed, epochs)
        # [WINDOW, heads, N], row -1 the latest epoch; sized for one head until the first update shows how many
        self.values = np.full((WINDOW, 1, num_samples), np.nan)
        self.labels = np.full((WINDOW, 1, num_samples), -1, dtype=np.int64)
        self.d2 = np.full(num_samples, np.nan)  # of the predicting head

    @classmethod
    def warnings(cls, config: TrialConfig) -> list[str]:
        """A warning when ``train.epochs`` is below ``MIN_USEFUL_EPOCHS``: the warm-up leaves the rule no time."""
        epochs = config.train.epochs
        if epochs >= MIN_USEFUL_EPOCHS:
            return []
        return [
            f"selection.strategy {config.selection.strategy!r} with train.epochs {epochs}: nothing is excluded "
            f"before epoch {WINDOW + 1}, so with fewer than {MIN_USEFUL_EPOCHS} epochs this arm barely differs "
            f"from training on everything; raise train.epochs to {MIN_USEFUL_EPOCHS} or more"
        ]

    @abstractmethod
    def signal(self, scores: SampleScores) -> np.ndarray:
        """[heads, N] (or [N]) per-sample value whose second difference measures stability."""

    def update(self, epoch: int, scores: SampleScores) -> None:
        values = np.atleast_2d(np.asarray(self.signal(scores), dtype=np.float64))  # [heads, N]
        labels = np.atleast_2d(np.asarray(scores.pseudo_label, dtype=np.int64))
        if self.values.shape[1] != len(values):  # the first update: one history per head
            self.values = np.full((WINDOW, *values.shape), np.nan)
            self.labels = np.full((WINDOW, *labels.shape), -1, dtype=np.int64)
        self.values = np.concatenate([self.values[1:], values[None]])
        self.labels = np.concatenate([self.labels[1:], labels[None]])
        d2 = self.values[2] - 2.0 * self.values[1] + self.values[0]
        flat = np.abs(d2) < self.config.epsilon  # False where D2 is NaN
        steady_label = (self.labels[2] == self.labels[1]) & (self.labels[1] == self.labels[0])
        self.d2 = d2[scores.head]
        self.excluded = flat[scores.head] & steady_label[scores.head]

    def retained(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        """Indices to train on; with ``priority``, drawn with replacement with mass ~ |D2_i| + floor.

        A retained sample with undefined D2 gets the largest defined |D2| (unknown counts as
        unstable); before any D2 exists the draw is uniform.
        """
        if not self.config.priority:
            return super().retained(epoch, rng)
        indices = np.flatnonzero(~self.excluded)
        if indices.size == 0:
            return indices
        mass = np.abs(self.d2[indices])
        defined = np.isfinite(mass)
        mass[~defined] = mass[defined].max() if defined.any() else 0.0
        mass += PRIORITY_FLOOR * mass.mean() + 1e-12
        return rng.choice(indices, size=indices.size, replace=True, p=mass / mass.sum())

    def summary(self) -> dict[str, float]:
        defined = np.isfinite(self.d2)
        mean_abs_d2 = float(np.abs(self.d2[defined]).mean()) if defined.any() else 0.0
        (key,) = self.metric_keys
        return {key: mean_abs_d2}

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "values": self.values.copy(),
            "labels": self.labels.copy(),
            "d2": self.d2.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.values = np.asarray(state["values"], dtype=np.float64).reshape(WINDOW, -1, self.num_samples).copy()
        self.labels = np.asarray(state["labels"], dtype=np.int64).reshape(WINDOW, -1, self.num_samples).copy()
        self.d2 = np.asarray(state["d2"], dtype=np.float64).copy()


@SELECTION_STRATEGIES.register("dss")
class DynamicSampleSelection(StabilitySelector):
    """DSS: stability of the weak/strong consistency S_i = cos(P^w_i, P^s_i) (``SampleScores.consistency``)."""

    metric_keys = (MEAN_ABS_D2S,)

    def signal(self, scores: SampleScores) -> np.ndarray:
        return scores.consistency


@SELECTION_STRATEGIES.register("loss")
class LossStabilitySelection(StabilitySelector):
    """The paper's loss-based comparison: the same rule on the loss signal L_i (``SampleScores.loss``).

    L_i = -log P^s_i[argmax P^w_i] from the same eval-mode pass as S_i, not the method's batch-dependent training
    loss, so that D2 L compares like with like across epochs (method.md, "one footing").
    """

    metric_keys = (MEAN_ABS_D2L,)

    def signal(self, scores: SampleScores) -> np.ndarray:
        return scores.loss
