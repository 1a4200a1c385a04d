"""The epoch engine shared by every method: train one epoch on the retained samples, score the rest, evaluate.

The trial loop around it (checkpoints, resume, callbacks) is ``trainables.trial_loop``; per-epoch seeding is
``trainables.seeding``.

Where each per-sample output comes from (method.md, DSS, "one footing"):
- the stability signals of every sample (S_i = cos(P^w_i, P^s_i), the loss signal L_i = -log P^s_i[argmax P^w_i]
  and the pseudo-label argmax P^w_i, per head; see ``SampleScores``) come from one definition: a no-grad,
  eval-mode ``method.predict_heads`` of the sample's weak and strong views, per-sample and independent of the batch.
  A trained sample gets it inside the training loop, on its batch's already-loaded views, right before that
  batch's ``fit_batch``; a sample not trained this epoch (excluded, or not drawn by a prioritised selector) gets
  the same forward in the scoring pass, in chunks of ``train.score_batch_size``. So for an unchanged model both
  routes give the same values. Both run only when ``selector.needs_scores``; their time is ``score_time_s``.
- ``train_loss``: the method's per-sample training loss (``StepOutput.sample_loss``) of trained samples.
Evaluation is a separate eval-mode pass over the 'val' view. ``pruned_frac`` and ``pruned_acc`` describe the
samples left out of *this* epoch's training (so they are 0 and NaN in epochs 1-3 under DSS); ``reinclusion_frac``
is the share of the samples excluded in the previous epoch that are retained in this one (NaN when none were
excluded). The selector's update at the end of the epoch decides the next epoch's exclusions and weights.

Randomness: at the start of epoch t every generator (Python, NumPy, torch, the selector's order generator and
the DataLoader's) is seeded from (seed, t), so an epoch's result depends only on the state after epoch t-1;
that is what makes resuming from a checkpoint bitwise exact on CPU.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from trainables.config import TrainConfig
from trainables.errors import TrainingError
from trainables.methods.base import Batch, ClusteringMethod
from trainables.metric_names import EVAL_KEYS, METRIC_KEYS, SELECTOR_KEYS
from trainables.metrics import evaluate, hungarian_mapping, map_predictions
from trainables.plugins.base import SampleScores, SampleSelector
from trainables.seeding import seed_epoch

PROBABILITY_FLOOR = 1e-12  # P^s is clamped here inside the log of the loss signal


class EarlyStop(Protocol):
    """What the engine needs from ``trainables.plugins.early_stop.PruningEarlyStop``."""

    stop_epoch: int | None

    def update(self, epoch: int, n_excluded: int) -> bool: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class TrialParts:
    """Everything the epoch loop works on, built once per trial (``trainables.trial.assemble``).

    ``train_set`` yields the method's training views plus 'weak' and 'strong'; ``val_set`` yields 'val'.
    ``regions`` [N] holds "high" / "mid" / "low" density-region names, or is None. ``reference`` holds what the
    pre-trained features give without training (``kmeans_acc``, ``kmeans_nmi``, ``kmeans_ari``), logged once.
    """

    method: ClusteringMethod
    optimizers: list[torch.optim.Optimizer]
    selector: SampleSelector
    early_stop: EarlyStop | None
    train_set: Dataset
    val_set: Dataset
    targets: np.ndarray
    regions: np.ndarray | None
    device: torch.device
    reference: dict[str, float] = field(default_factory=dict)


@dataclass
class EpochOutcome:
    """One epoch's metrics row (keys ``METRIC_KEYS``) and whether early stopping fired."""

    row: dict[str, float]
    stop: bool


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """The learning-rate multiplier of 1-based ``epoch``: 1 (``constant``) or 0.5 (1 + cos(pi (epoch-1) / epochs))."""
    if schedule == "constant":
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / epochs))


def split_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Split ``order`` into ceil(n / batch_size) batches of near-equal size (none larger than batch_size).

    No sample is dropped and no batch is tiny (sizes differ by at most one), except that fewer than two
    samples give no batch at all: batch statistics need two, and such a sample is scored instead.
    """
    if len(order) < 2:
        return []
    return np.array_split(order, math.ceil(len(order) / batch_size))


def _seed_worker(worker_id: int) -> None:
    """DataLoader worker init: NumPy and Python follow the worker's torch seed (set from the loader generator)."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def stability_signals(p_weak: torch.Tensor, p_strong: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row of the [..., K] distributions P^w and P^s: S = cos(P^w, P^s), L = -log P^s[argmax P^w], argmax P^w.

    Returns float64 [...] S, float64 [...] L (P^s clamped at ``PROBABILITY_FLOOR``) and int64 [...] pseudo-labels.
    """
    p_weak, p_strong = p_weak.detach().to(torch.float64), p_strong.detach().to(torch.float64)
    pseudo_label = p_weak.argmax(dim=-1)
    loss = -p_strong.gather(-1, pseudo_label.unsqueeze(-1)).squeeze(-1).clamp_min(PROBABILITY_FLOOR).log()
    return F.cosine_similarity(p_weak, p_strong, dim=-1), loss, pseudo_label


class _SampleOutputs:
    """Per-sample outputs of one epoch, kept on the device and indexed by dataset index (signals: [heads, N])."""

    def __init__(self, num_samples: int, num_heads: int, device: torch.device) -> None:
        self.train_loss = torch.full((num_samples,), math.nan, dtype=torch.float64, device=device)
        self.loss = torch.full((num_heads, num_samples), math.nan, dtype=torch.float64, device=device)
        self.consistency = torch.full_like(self.loss, math.nan)
        self.pseudo_label = torch.full((num_heads, num_samples), -1, dtype=torch.int64, device=device)
        self.signalled = torch.zeros(num_samples, dtype=torch.bool, device=device)

    def record_train_loss(self, index: torch.Tensor, sample_loss: torch.Tensor) -> None:
        self.train_loss[index] = sample_loss.detach().to(torch.float64)

    def record_signals(self, index: torch.Tensor, p_weak: torch.Tensor, p_strong: torch.Tensor) -> None:
        """The signals of the samples ``index`` [B] from every head's [heads, B, K] P^w and P^s."""
        consistency, loss, pseudo_label = stability_signals(p_weak, p_strong)
        self.consistency[:, index], self.loss[:, index], self.pseudo_label[:, index] = consistency, loss, pseudo_label
        self.signalled[index] = True

    def unsignalled(self) -> np.ndarray:
        return torch.nonzero(~self.signalled).flatten().cpu().numpy()

    def to_scores(self, head: int) -> SampleScores:
        return SampleScores(
            consistency=self.consistency.cpu().numpy(),
            loss=self.loss.cpu().numpy(),
            pseudo_label=self.pseudo_label.cpu().numpy(),
            train_loss=self.train_loss.cpu().numpy(),
            head=head,
        )


class EpochEngine:
    """Runs epochs of one trial over ``TrialParts``; its state (with the parts') resumes bitwise."""

    def __init__(
        self, parts: TrialParts, train: TrainConfig, method_name: str, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        """``clock`` times the phases: wall time by default (a benchmark may pass ``time.process_time``)."""
        self.parts = parts
        self.train = train
        self.method_name = method_name
        self.clock = clock
        self.num_samples = len(parts.targets)
        self.num_heads = parts.method.num_heads
        self.pseudo_labels = np.full(self.num_samples, -1, dtype=np.int64)
        self.previous_excluded = np.zeros(self.num_samples, dtype=bool)
        self.probabilities: np.ndarray | None = None
        self.base_lrs = [[group["lr"] for group in optimizer.param_groups] for optimizer in parts.optimizers]

    def run_epoch(self, epoch: int, is_last: bool) -> EpochOutcome:
        """Train, score, update the selector and early stop, and evaluate when due (always when last/stopping).

        Raises:
            TrainingError: the loss became NaN or infinite.
        """
        parts = self.parts
        rng, loader_generator = seed_epoch(self.train.seed, epoch)
        self._set_learning_rates(lr_factor(self.train.lr_schedule, epoch, self.train.epochs))
        excluded = parts.selector.excluded.copy()  # this epoch's exclusions, before the update below
        weights = parts.selector.sample_weights()
        order = parts.selector.retained(epoch, rng)
        outputs = _SampleOutputs(self.num_samples, self.num_heads, parts.device)

        start = self._clock()
        loss, samples_trained, signal_time = self._train(order, weights, loader_generator, outputs, epoch)
        train_time = self._clock() - start - signal_time

        start = self._clock()
        if parts.selector.needs_scores:
            self._score(outputs, loader_generator)
        score_time = self._clock() - start + signal_time

        scores = outputs.to_scores(parts.method.predicting_head())
        pseudo_labels = scores.pseudo_label[scores.head]
        known = pseudo_labels >= 0
        self.pseudo_labels[known] = pseudo_labels[known]
        parts.selector.update(epoch, scores)
        n_excluded = int(parts.selector.excluded.sum())
        stop = bool(parts.early_stop.update(epoch, n_excluded)) if parts.early_stop is not None else False

        start = self._clock()
        evaluated = epoch % self.train.eval_every == 0 or is_last or stop
        metrics = self._evaluate(epoch) if evaluated else dict.fromkeys(EVAL_KEYS, math.nan)
        eval_time = self._clock() - start if evaluated else 0.0

        summary = parts.selector.summary()
        values: dict[str, float] = {
            "epoch": epoch,
            **{key: float(metrics.get(key, math.nan)) for key in EVAL_KEYS},
            "pruned_frac": float(excluded.mean()),
            "pruned_acc": self._pruned_accuracy(excluded),
            "reinclusion_frac": self._reinclusion_fraction(excluded),
            **{key: float(summary.get(key, math.nan)) for key in SELECTOR_KEYS},
            "loss": loss,
            "train_time_s": train_time,
            "score_time_s": score_time,
            "eval_time_s": eval_time,
            "samples_trained": samples_trained,
        }
        self.previous_excluded = excluded
        return EpochOutcome(row={key: values[key] for key in METRIC_KEYS}, stop=stop)

    def state_dict(self, with_probabilities: bool = True) -> dict[str, Any]:
        """Model, optimiser, selector, early-stop and engine state (pseudo-labels, last eval probabilities).

        The [N, K] probabilities are only needed by a finished trial's result; leave them out of intermediate
        checkpoints (``with_probabilities=False``) to keep those small on large datasets.
        """
        parts = self.parts
        return {
            "method": parts.method.state_dict(),
            "optimizers": [optimizer.state_dict() for optimizer in parts.optimizers],
            "selector": parts.selector.state_dict(),
            "early_stop": parts.early_stop.state_dict() if parts.early_stop is not None else None,
            "pseudo_labels": self.pseudo_labels.copy(),
            "previous_excluded": self.previous_excluded.copy(),
            "probabilities": self.probabilities if with_probabilities else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of ``state_dict``; shape or key mismatches raise from torch (callers wrap them)."""
        parts = self.parts
        parts.method.load_state_dict(state["method"])
        if len(state["optimizers"]) != len(parts.optimizers):
            raise ValueError("the checkpoint holds a different number of optimisers")
        for optimizer, optimizer_state in zip(parts.optimizers, state["optimizers"]):
            optimizer.load_state_dict(optimizer_state)
        parts.selector.load_state_dict(state["selector"])
        if parts.early_stop is not None and state["early_stop"] is not None:
            parts.early_stop.load_state_dict(state["early_stop"])
        self.pseudo_labels = np.asarray(state["pseudo_labels"], dtype=np.int64).copy()
        self.previous_excluded = np.asarray(state["previous_excluded"], dtype=bool).copy()
        self.probabilities = state["probabilities"]

    def _train(
        self, order: np.ndarray, weights: np.ndarray | None, generator: torch.Generator, outputs: _SampleOutputs,
        epoch: int,
    ) -> tuple[float, int, float]:
        """One pass of optimisation over ``order``, each sample's loss weighted by ``weights`` [N] (None: 1).

        When the selector needs scores, each batch's stability signals are taken first (``_record_signals``).
        Returns the mean unweighted loss per trained sample, the samples trained and the seconds spent on signals.
        """
        method = self.parts.method
        device = self.parts.device
        weight_of = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
        method.train()
        total_loss = torch.zeros((), dtype=torch.float64, device=device)
        trained, signal_time = 0, 0.0
        for batch in self._batches(self.parts.train_set, split_batches(order, self.train.batch_size), generator):
            if self.parts.selector.needs_scores:
                start = self._clock()
                self._record_signals(outputs, batch)
                method.train()
                signal_time += self._clock() - start
            sample_weight = None if weight_of is None else weight_of[batch.index]
            step = method.fit_batch(batch, self.parts.optimizers, sample_weight=sample_weight)
            if not bool(torch.isfinite(step.loss)):
                raise TrainingError(
                    f"{self.method_name} loss became {float(step.loss.detach())} in epoch {epoch}; lower "
                    "train.lr_head / train.lr_backbone or check the input data for NaN values"
                )
            outputs.record_train_loss(batch.index, step.sample_loss)
            total_loss += step.loss.detach().to(torch.float64) * len(batch.index)
            trained += len(batch.index)
        return (float(total_loss) / trained if trained else math.nan), trained, signal_time

    def _score(self, outputs: _SampleOutputs, generator: torch.Generator) -> None:
        """The stability signals of the samples not trained this epoch, in chunks of ``train.score_batch_size``."""
        chunks = _chunks(outputs.unsignalled(), self.train.score_batch_size)
        for batch in self._batches(self.parts.train_set, chunks, generator):
            self._record_signals(outputs, batch)

    def _record_signals(self, outputs: _SampleOutputs, batch: Batch) -> None:
        """The one footing of every sample's signals: no-grad, eval-mode ``method.predict_heads`` of the weak and
        strong views (P^w, P^s per head), turned into S, L and the pseudo-label. Leaves the method in eval mode."""
        method = self.parts.method
        method.eval()
        with torch.no_grad():
            weak, strong = method.predict_heads(batch, view="weak"), method.predict_heads(batch, view="strong")
        outputs.record_signals(batch.index, weak, strong)

    def _evaluate(self, epoch: int) -> dict[str, float]:
        """Eval-mode pass over the 'val' view; stores and scores the [N, K] probabilities.

        Raises:
            TrainingError: the predicted probabilities hold NaN or infinite values.
        """
        method = self.parts.method
        probabilities = np.empty((self.num_samples, method.num_clusters), dtype=np.float32)
        method.eval()
        indices = np.arange(self.num_samples)
        with torch.no_grad():
            for batch in self._batches(self.parts.val_set, _chunks(indices, self.train.score_batch_size), None):
                probabilities[batch.index.cpu().numpy()] = method.predict(batch).float().cpu().numpy()
        if not np.isfinite(probabilities).all():
            raise TrainingError(
                f"{self.method_name} predicted NaN or infinite probabilities in epoch {epoch}; lower "
                "train.lr_head / train.lr_backbone or check the input data for NaN values"
            )
        self.probabilities = probabilities
        return evaluate(self.parts.targets, probabilities, self.parts.regions)

    def _pruned_accuracy(self, excluded: np.ndarray) -> float:
        """Accuracy of the excluded samples' latest pseudo-labels under the Hungarian mapping of all samples.

        NaN when nothing is excluded or some sample has no pseudo-label yet.
        """
        if not excluded.any() or (self.pseudo_labels < 0).any():
            return math.nan
        mapping = hungarian_mapping(self.parts.targets, self.pseudo_labels)
        mapped = map_predictions(self.pseudo_labels, mapping)
        return float(np.mean(mapped[excluded] == self.parts.targets[excluded]))

    def _reinclusion_fraction(self, excluded: np.ndarray) -> float:
        """Share of the samples excluded in the previous epoch that this epoch's ``excluded`` [N] no longer holds.

        NaN when the previous epoch excluded nothing.
        """
        previous = self.previous_excluded
        if not previous.any():
            return math.nan
        return float((previous & ~excluded).sum() / previous.sum())

    def _set_learning_rates(self, factor: float) -> None:
        """Every optimiser's rates at ``factor`` times the configured ones (a function of the epoch: resumes exactly)."""
        for optimizer, rates in zip(self.parts.optimizers, self.base_lrs):
            for group, rate in zip(optimizer.param_groups, rates):
                group["lr"] = rate * factor

    def _batches(
        self, dataset: Dataset, batches: list[np.ndarray], generator: torch.Generator | None
    ) -> Iterator[Batch]:
        """Load the given index batches from ``dataset`` (order kept) and move them to the device."""
        if not batches:
            return
        device = self.parts.device
        loader = DataLoader(
            dataset,
            batch_sampler=[batch.tolist() for batch in batches],
            num_workers=self.train.num_workers,
            pin_memory=device.type == "cuda",
            generator=generator,
            worker_init_fn=_seed_worker if self.train.num_workers else None,
        )
        for views, index, label in loader:
            yield Batch(
                views={name: view.to(device, non_blocking=True) for name, view in views.items()},
                index=index.to(device),
                label=label.to(device),
            )

    def _clock(self) -> float:
        """The clock's time, read after the device has finished its queued work."""
        if self.parts.device.type == "cuda":
            torch.cuda.synchronize(self.parts.device)
        return self.clock()


def _chunks(indices: np.ndarray, size: int) -> list[np.ndarray]:
    """Consecutive chunks of at most ``size`` indices."""
    return [indices[start:start + size] for start in range(0, len(indices), size)]


