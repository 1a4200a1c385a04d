"""Contracts of the two plug-in kinds: head initialisers and sample selectors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from trainables.config import InitConfig, SelectionConfig

if TYPE_CHECKING:
    from trainables.config import TrialConfig


class Initializer(Protocol):
    """What a method needs to initialise its head: ``centres(features, n_centres, seed)``, [n_centres, D] float32
    centres of the [N, D] ``features``, or None to keep the method's own default initialisation."""

    def centres(self, features: np.ndarray, n_centres: int, seed: int) -> np.ndarray | None: ...


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

    The stability signals come from one definition for every sample (method.md, DSS, "one footing"): a no-grad,
    eval-mode ``method.predict_heads`` of the sample's weak and strong views, so they do not depend on whether the
    sample was trained or scored, nor on the batch it was in. They are [H, N], a row per head the method trains
    (H = 1 but for multi-head SCAN); row ``head`` is the head the method predicts with:
    - ``consistency``: S_i = cos(P^w_i, P^s_i);
    - ``pseudo_label``: argmax P^w_i;
    - ``loss``: the loss signal L_i = -log P^s_i[argmax P^w_i], the cross-entropy of the strong view against the
      weak view's pseudo-label (a per-sample stand-in for the method's own loss, whose batch-level terms and
      negatives make it batch-dependent).
    These are NaN / -1 where the selector asked for no signals (``needs_scores`` False).
    ``train_loss`` [N] is the method's own per-sample training loss from the training step
    (``StepOutput.sample_loss``, batch-dependent), NaN for samples not trained this epoch.
    """

    consistency: np.ndarray  # [H, N] float64
    loss: np.ndarray  # [H, N] float64
    pseudo_label: np.ndarray  # [H, N] int64
    train_loss: np.ndarray  # [N] float64
    head: int = 0  # the row of the head the method predicts with


class SampleSelector(ABC):
    """Decides which samples are trained on in each epoch, and optionally how much each one weighs.

    The engine calls, each epoch t = 1, 2, ...: ``retained(t)`` for the indices to train on and ``sample_weights()``
    for their loss weights, then, after training and scoring, ``update(t, scores)``. ``excluded`` is the current
    exclusion mask. ``metric_keys`` names the figures ``summary()`` logs every epoch.
    """

    needs_scores: ClassVar[bool] = True  # False: no stability signals (no eval forwards, no scoring pass)
    metric_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: SelectionConfig, num_samples: int, seed: int, epochs: int) -> None:
        """``epochs`` is the trial's ``train.epochs``, for rules that depend on the schedule's length."""
        self.config = config
        self.num_samples = num_samples
        self.seed = seed
        self.epochs = epochs
        self.excluded = np.zeros(num_samples, dtype=bool)

    @classmethod
    def warnings(cls, config: TrialConfig) -> list[str]:
        """One-line warnings about a valid config in which this selector cannot do its job; none by default."""
        return []

    @abstractmethod
    def update(self, epoch: int, scores: SampleScores) -> None:
        """Update the per-sample state and ``excluded`` after epoch ``epoch``."""

    def retained(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        """Indices to train on in ``epoch``, in a fresh random order drawn from ``rng``."""
        indices = np.flatnonzero(~self.excluded)
        return rng.permutation(indices)

    def sample_weights(self) -> np.ndarray | None:
        """[N] loss weights for the coming epoch, or None for unweighted training (the default)."""
        return None

    def summary(self) -> dict[str, float]:
        """The figures named by ``metric_keys``, e.g. ``{"mean_abs_d2s": ...}``."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bitwise; numpy arrays and plain Python values only."""
        return {"excluded": self.excluded.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of ``state_dict``."""
        self.excluded = np.asarray(state["excluded"], dtype=bool).copy()
