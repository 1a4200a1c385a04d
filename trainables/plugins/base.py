"""Contracts of the two plug-in kinds: head initialisers and sample selectors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainables.config import InitConfig, SelectionConfig


class HeadInitializer(ABC):
    """Turns features into the centres a clustering head is initialised from.

    A method calls ``centres(features, n_centres, seed)`` once per layer it initialises, in that
    layer's input space. ``None`` means "keep the method's own default initialisation".
    """

    def __init__(self, config: InitConfig) -> None:
        self.config = config

    @abstractmethod
    def centres(self, features: np.ndarray, n_centres: int, seed: int) -> np.ndarray | None:
        """[n_centres, D] float32 centres of the [N, D] ``features``, or None."""


@dataclass
class SampleScores:
    """Per-sample outputs of one epoch, for all N samples, aligned by dataset index.

    ``consistency`` is S_i = cos(P^w_i, P^s_i); ``loss`` the method's per-sample loss;
    ``pseudo_label`` argmax P^w_i. Entries of samples not seen this epoch are NaN / -1.
    """

    consistency: np.ndarray  # [N] float64
    loss: np.ndarray  # [N] float64
    pseudo_label: np.ndarray  # [N] int64


class SampleSelector(ABC):
    """Decides which samples are trained on in each epoch.

    The engine calls, each epoch t = 1, 2, ...: ``retained(t)`` for the indices to train on, then, after
    training and scoring, ``update(t, scores)``. ``excluded`` is the current exclusion mask.
    """

    needs_scores: bool = True  # False: the engine skips the scoring pass over excluded samples

    def __init__(self, config: SelectionConfig, num_samples: int, seed: int) -> None:
        self.config = config
        self.num_samples = num_samples
        self.seed = seed
        self.excluded = np.zeros(num_samples, dtype=bool)

    @abstractmethod
    def update(self, epoch: int, scores: SampleScores) -> None:
        """Update the per-sample state and ``excluded`` after epoch ``epoch``."""

    def retained(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        """Indices to train on in ``epoch``, in a fresh random order drawn from ``rng``."""
        indices = np.flatnonzero(~self.excluded)
        return rng.permutation(indices)

    def summary(self) -> dict[str, float]:
        """Figures logged each epoch, e.g. ``{"pruned_frac": ..., "mean_abs_d2s": ...}``."""
        return {"pruned_frac": float(self.excluded.mean())}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bitwise; numpy arrays and plain Python values only."""
        return {"excluded": self.excluded.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of ``state_dict``."""
        self.excluded = np.asarray(state["excluded"], dtype=bool).copy()
