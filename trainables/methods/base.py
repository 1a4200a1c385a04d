"""The contract every baseline implements; the epoch loop, DSS, evaluation and checkpoints are shared.

A method owns its encoder and heads (it is an ``nn.Module``) and knows three things the engine does not:
how to initialise its head from features, how to compute its loss on a batch, and how to predict.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from trainables.config import TrialConfig
from trainables.methods.params import MethodParams, resolve_method_params
from trainables.plugins.base import Initializer


ViewSource = Callable[[Tensor, str], Tensor]
"""``view_source(indices [n] int64, view name) -> [n, ...]`` freshly transformed views of dataset samples."""


def dataset_view_source(dataset: Any) -> ViewSource:
    """A ViewSource over a dataset with ``with_views(views)`` and batched ``view_batch(indices) -> {view: [n, ...]}``
    (a ClusteringDataset): each call makes the views of all ``indices`` at once."""
    per_view: dict[str, Any] = {}

    def load(indices: Tensor, view: str) -> Tensor:
        if view not in per_view:
            per_view[view] = dataset.with_views((view,))
        return per_view[view].view_batch(indices.cpu())[view]

    return load


@dataclass
class Batch:
    """One mini-batch: ``views`` maps a view name ('val', 'weak', 'strong') to a [B, ...] tensor."""

    views: dict[str, Tensor]
    index: Tensor  # [B] dataset indices, int64
    label: Tensor  # [B] ground truth; never used for training


@dataclass
class StepOutput:
    """What a training step returns.

    ``loss`` is the scalar to back-propagate. ``sample_loss`` [B] is the method's own loss of each sample, still
    attached to the graph where the method's loss allows it, so that ``fit_batch`` can weight it (InfoBatch); it
    averages to ``loss``. The engine detaches it when it records it. Cluster probabilities are not part of it: the
    engine takes every sample's P^w and P^s from its own eval-mode ``predict`` of the weak and strong views
    (method.md, "one footing").
    """

    loss: Tensor
    sample_loss: Tensor


class ClusteringMethod(nn.Module, ABC):
    """A deep-clustering baseline behind one small interface.

    Subclasses set ``name`` and ``train_views`` (the views the training step reads) and implement the abstract
    methods; their ``method.params`` models and per-dataset defaults live in ``trainables.methods.params``.
    """

    name: ClassVar[str]
    train_views: tuple[str, ...] = ("weak", "strong")  # per class, or per instance (SCAN: per stage)

    def __init__(self, config: TrialConfig, encoder: nn.Module, num_clusters: int, feature_dim: int):
        super().__init__()
        self.config = config
        self.params = self.resolve_params(config)
        self.encoder = encoder.requires_grad_(False) if self.encoder_frozen else encoder
        self.num_clusters = num_clusters
        self.feature_dim = feature_dim
        self.view_source: ViewSource | None = None

    @classmethod
    def resolve_params(cls, config: TrialConfig) -> MethodParams:
        """This method's params for ``config`` (see ``trainables.methods.params.resolve_method_params``)."""
        return resolve_method_params(cls.name, config.dataset.name, config.method.params)

    @classmethod
    def build(cls, config: TrialConfig, encoder: nn.Module, num_clusters: int, feature_dim: int):
        """Construct the method with its heads; the head is initialised later by ``init_head``."""
        return cls(config, encoder, num_clusters, feature_dim)

    def prepare(self, features: np.ndarray) -> None:
        """Hook run once on the pre-trained [N, D] features before training (e.g. SCAN mines neighbours)."""

    def attach_view_source(self, view_source: ViewSource) -> None:
        """Hook the engine calls once before training so a method can load samples outside the batch.

        SCAN needs the strong view of each anchor's neighbour; the engine passes
        ``dataset_view_source(dataset)``. Methods that only read the batch ignore it.
        """
        self.view_source = view_source

    @abstractmethod
    def init_head(self, features: np.ndarray, initializer: Initializer, seed: int) -> None:
        """Initialise the layer(s) that output K clusters from [N, D] pre-trained features.

        Every method calls the initializer on ``heads.head_input_rows`` of the initialised layer's input (rows
        standardised, then L2-normalised), so DACHI's d_i and alpha mean the same in every method.

        ``initializer.centres(x, n, seed)`` returns [n, d] centres of ``x`` (or None for ``random``: keep the
        method's own default); ``seed`` is the trial's (``train.seed``).
        """

    @abstractmethod
    def train_step(self, batch: Batch) -> StepOutput:
        """Loss of one batch of retained samples, with per-sample outputs for the selection plug-in."""

    @abstractmethod
    def predict(self, batch: Batch, view: str = "val") -> Tensor:
        """Cluster probabilities [B, K] of the batch's ``view`` ('val', 'weak' or 'strong'; eval mode)."""

    @property
    def num_heads(self) -> int:
        """How many heads the method trains side by side, each predicting K clusters (1 by default)."""
        return 1

    def predict_heads(self, batch: Batch, view: str = "val") -> Tensor:
        """Cluster probabilities [num_heads, B, K]; row ``predicting_head()`` is ``predict``'s.

        The engine takes the stability signals from here, so that a selector can follow each head (SCAN's
        ``heads``). Default: the one head of ``predict``.
        """
        return self.predict(batch, view).unsqueeze(0)

    def predicting_head(self) -> int:
        """The row of ``predict_heads`` that ``predict`` returns (0 by default)."""
        return 0

    @property
    def encoder_frozen(self) -> bool:
        """Whether the encoder is frozen (``train.encoder_mode``), decided here only: a frozen encoder gets no
        gradient, is left out of the optimisers and stays in eval mode (its BN statistics do not move)."""
        return self.config.train.encoder_mode == "frozen"

    def train(self, mode: bool = True) -> ClusteringMethod:
        """``nn.Module.train``, except that a frozen encoder stays in eval mode."""
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()
        return self

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimisers ``fit_batch`` steps; default: one Adam over ``param_groups`` (the engine calls this once).

        A method whose reference steps several optimisers (CDC) overrides this and ``fit_batch``.
        """
        return [torch.optim.Adam(self.param_groups(), weight_decay=self.config.train.weight_decay)]

    def fit_batch(
        self, batch: Batch, optimizers: list[torch.optim.Optimizer], sample_weight: Tensor | None = None
    ) -> StepOutput:
        """Train on one batch: ``train_step``, then one backward pass and one step of every optimiser.

        ``sample_weight`` [B] rescales each sample's share of the loss (InfoBatch): the back-propagated loss is then
        ``mean(weight * sample_loss)``, which needs a ``sample_loss`` that keeps its graph and averages to ``loss``.
        The returned step is the unweighted one.
        """
        step = self.train_step(batch)
        if step.loss.requires_grad:
            descend(weighted_objective(step.loss, step.sample_loss, sample_weight), optimizers)
        return step

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters trained at ``train.lr_head``: everything but the encoder."""
        encoder_ids = {id(p) for p in self.encoder.parameters()}
        return [p for p in self.parameters() if id(p) not in encoder_ids]

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimiser parameter groups: the head, plus the encoder when it is fine-tuned."""
        return [{"params": self.head_parameters(), "lr": self.config.train.lr_head}, *self.encoder_param_groups()]

    def encoder_param_groups(self) -> list[dict[str, Any]]:
        """The encoder's parameter group at ``train.lr_backbone`` when it is fine-tuned, else none."""
        if not self.encoder_frozen and self.config.train.lr_backbone > 0:
            return [{"params": list(self.encoder.parameters()), "lr": self.config.train.lr_backbone}]
        return []


def weighted_objective(loss: Tensor, sample_loss: Tensor, sample_weight: Tensor | None) -> Tensor:
    """``loss``, or ``mean(sample_weight * sample_loss)`` [scalar] when per-sample weights [B] are given."""
    return loss if sample_weight is None else (sample_weight * sample_loss).mean()


def descend(objective: Tensor, optimizers: list[torch.optim.Optimizer]) -> None:
    """One backward pass of ``objective`` and one step of every optimiser."""
    for optimizer in optimizers:
        optimizer.zero_grad(set_to_none=True)
    objective.backward()
    for optimizer in optimizers:
        optimizer.step()
