"""Small fakes for the engine tests: a vector dataset with random views, a linear method, scripted plug-ins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from trainables.config import MethodConfig, TrainConfig, TrialConfig
from trainables.engine import TrialParts
from trainables.methods.base import Batch, ClusteringMethod, StepOutput
from trainables.plugins.base import SampleScores, SampleSelector


class BlobDataset(torch.utils.data.Dataset):
    """N points in 3 Gaussian blobs; 'weak' / 'strong' add torch-RNG noise (or fixed scalings when ``fixed``)."""

    def __init__(self, n: int = 60, views: tuple[str, ...] = ("val",), fixed: bool = False) -> None:
        rng = np.random.default_rng(0)
        self.targets = np.arange(n) % 3
        centres = np.array([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
        self.x = torch.tensor(centres[self.targets] + rng.normal(size=(n, 4)), dtype=torch.float32)
        self.views = views
        self.fixed = fixed

    def with_views(self, views: tuple[str, ...]) -> BlobDataset:
        copy = object.__new__(BlobDataset)
        copy.__dict__.update(self.__dict__, views=tuple(views))
        return copy

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], int, int]:
        x = self.x[i]
        make = {
            "val": lambda: x,
            "weak": lambda: x * 1.1 if self.fixed else x + 0.1 * torch.randn(4),
            "strong": lambda: x * 0.7 if self.fixed else x + 0.5 * torch.randn(4),
        }
        return {view: make[view]() for view in self.views}, i, int(self.targets[i])


class LinearMethod(ClusteringMethod):
    """Linear encoder + linear head; consistency loss; records what it trained, predicted and was weighted by."""

    name = "fake"

    def __init__(self, config: TrialConfig, encoder: nn.Module, num_clusters: int, feature_dim: int,
                 nan_after_steps: int | None = None) -> None:
        super().__init__(config, encoder, num_clusters, feature_dim)
        self.head = nn.Linear(feature_dim, num_clusters)
        self.nan_after_steps = nan_after_steps
        self.steps = 0
        self.trained: list[np.ndarray] = []
        self.predicted: list[np.ndarray] = []  # indices of every predict call, in order
        self.encoder_training_during_step: list[bool] = []
        self.training_during_predict: list[bool] = []
        self.weights: list[torch.Tensor | None] = []
        self.emitted: dict[int, float] = {}  # sample -> its latest training-step loss

    def init_head(self, features: np.ndarray, initializer: Any, seed: int) -> None:
        """Keep PyTorch's default initialisation."""

    def _probs(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.head(self.encoder(x)), dim=1)

    def train_step(self, batch: Batch) -> StepOutput:
        self.steps += 1
        self.trained.append(batch.index.numpy().copy())
        self.encoder_training_during_step.append(self.encoder.training)
        p_weak, p_strong = self._probs(batch.views["weak"]), self._probs(batch.views["strong"])
        mean = p_weak.mean(dim=0)
        sample_loss = -(p_weak.detach() * torch.log(p_strong + 1e-8)).sum(dim=1) + (mean * torch.log(mean + 1e-8)).sum()
        loss = sample_loss.mean()
        if self.nan_after_steps is not None and self.steps >= self.nan_after_steps:
            loss = loss * float("nan")
        self.emitted.update(zip(batch.index.tolist(), sample_loss.tolist()))
        return StepOutput(loss=loss, sample_loss=sample_loss)

    def fit_batch(self, batch: Batch, optimizers, sample_weight=None) -> StepOutput:
        self.weights.append(None if sample_weight is None else sample_weight.clone())
        return super().fit_batch(batch, optimizers, sample_weight)

    def predict(self, batch: Batch, view: str = "val") -> torch.Tensor:
        self.predicted.append(batch.index.numpy().copy())
        self.training_during_predict.append(self.training)
        return self._probs(batch.views[view])


class LowConsistencySelector(SampleSelector):
    """From epoch ``start`` on, excludes the samples whose consistency is below the epoch's median."""

    metric_keys = ("mean_abs_d2s",)

    def __init__(self, num_samples: int, start: int = 1) -> None:
        super().__init__(config=None, num_samples=num_samples, seed=0, epochs=0)  # type: ignore[arg-type]
        self.start = start
        self.received: list[tuple[int, SampleScores]] = []

    def update(self, epoch: int, scores: SampleScores) -> None:
        self.received.append((epoch, scores))
        if epoch >= self.start:
            consistency = scores.consistency[scores.head]
            self.excluded = consistency < np.median(consistency)

    def summary(self) -> dict[str, float]:
        return {"mean_abs_d2s": 0.25}


class FixedSelector(SampleSelector):
    """Excludes a fixed index set after epoch 1; needs_scores as given; optional fixed [N] loss weights."""

    def __init__(self, num_samples: int, excluded: np.ndarray, needs_scores: bool = True,
                 weights: np.ndarray | None = None) -> None:
        super().__init__(config=None, num_samples=num_samples, seed=0, epochs=0)  # type: ignore[arg-type]
        self.fixed = np.zeros(num_samples, dtype=bool)
        self.fixed[excluded] = True
        self.needs_scores = needs_scores
        self.weights = weights
        self.received: list[tuple[int, SampleScores]] = []

    def sample_weights(self) -> np.ndarray | None:
        return self.weights

    def update(self, epoch: int, scores: SampleScores) -> None:
        self.received.append((epoch, scores))
        self.excluded = self.fixed.copy()


class StopAt:
    """Early stop that fires at a scripted epoch."""

    def __init__(self, epoch: int) -> None:
        self.at = epoch
        self.stop_epoch: int | None = None
        self.seen: list[tuple[int, int]] = []

    def update(self, epoch: int, n_excluded: int) -> bool:
        self.seen.append((epoch, n_excluded))
        if epoch >= self.at and self.stop_epoch is None:
            self.stop_epoch = epoch
        return self.stop_epoch is not None

    def state_dict(self) -> dict[str, Any]:
        return {"stop_epoch": self.stop_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stop_epoch = state["stop_epoch"]


def make_config(**train: Any) -> TrialConfig:
    """A TrialConfig without registry checks (the fakes are not registered)."""
    settings = {"epochs": 3, "batch_size": 16, "score_batch_size": 25, "device": "cpu", "seed": 7,
                "lr_head": 0.05, "lr_backbone": 0.05, **train}
    return TrialConfig.model_construct(
        method=MethodConfig(name="fake"), train=TrainConfig(**settings), cache_dir=Path("unused")
    )


def make_parts(config: TrialConfig, selector_factory=None, early_stop=None, fixed_views: bool = False,
               **method_options: Any) -> TrialParts:
    """Seeded fake parts: the same config gives bitwise the same parts."""
    torch.manual_seed(config.train.seed)
    dataset = BlobDataset(fixed=fixed_views)
    method = LinearMethod(config, nn.Linear(4, 6), num_clusters=3, feature_dim=6, **method_options)
    selector = (selector_factory or (lambda n: LowConsistencySelector(n, start=2)))(len(dataset))
    regions = np.asarray(["high", "mid", "low"])[np.arange(len(dataset)) % 3]
    return TrialParts(
        method=method,
        optimizers=method.configure_optimizers(),
        selector=selector,
        early_stop=early_stop,
        train_set=dataset.with_views(("weak", "strong")),
        val_set=dataset.with_views(("val",)),
        targets=dataset.targets.astype(np.int64),
        regions=regions,
        device=torch.device("cpu"),
    )


@pytest.fixture
def small_digits(tmp_path: Path) -> dict[str, Any]:
    """Config keys of a real ``arrays`` dataset: the first 400 bundled digits as 8x8 uint8 images in an npz."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    path = tmp_path / "digits400.npz"
    np.savez(path, x=np.rint(digits.images[:400] * 255 / 16).astype(np.uint8), y=digits.target[:400])
    return {"dataset.name": "arrays", "dataset.root": str(path), "encoder.arch": "small_cnn"}


@pytest.fixture
def fakes():
    """The helpers above, as one namespace."""
    import types

    return types.SimpleNamespace(
        make_config=make_config, make_parts=make_parts, FixedSelector=FixedSelector,
        LowConsistencySelector=LowConsistencySelector, StopAt=StopAt, BlobDataset=BlobDataset,
    )
