"""Toy encoders, data and a recording initialiser shared by the CC and TCL tests."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from trainables.config import MethodConfig, TrainConfig, TrialConfig
from trainables.methods import METHODS
from trainables.methods.base import Batch
from trainables.plugins.base import HeadInitializer


class RecordingInit(HeadInitializer):
    """Returns fixed centres (or None) and remembers the features and seed it was given."""

    def __init__(self, centres: np.ndarray | None) -> None:
        self.fixed = centres
        self.seen: np.ndarray | None = None
        self.seed: int | None = None

    def centres(self, features, n_centres, seed):
        self.seen, self.seed = np.array(features), seed
        return self.fixed


def make_method(name: str, num_clusters: int = 3, input_dim: int = 6, feature_dim: int = 5, seed: int = 0, **params):
    """Method ``name`` on a small MLP encoder of ``input_dim`` -> ``feature_dim``."""
    torch.manual_seed(seed)
    config = TrialConfig.model_construct(method=MethodConfig(name=name, params=params), train=TrainConfig(seed=seed))
    encoder = nn.Sequential(nn.Linear(input_dim, 16), nn.ReLU(), nn.Linear(16, feature_dim))
    return METHODS.get(name).build(config, encoder, num_clusters, feature_dim)


def blobs(n_per_class: int, k: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` well-separated Gaussian blobs of ``n_per_class`` points each, with their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 4
    labels = np.repeat(np.arange(k), n_per_class)
    points = centres[labels] + rng.normal(size=(len(labels), dim))
    return torch.tensor(points, dtype=torch.float32), torch.tensor(labels)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows standardised (mean 0, std 1), then scaled to unit length."""
    centred = x - x.mean(axis=1, keepdims=True)
    standard = centred / centred.std(axis=1, keepdims=True)
    return standard / np.linalg.norm(standard, axis=1, keepdims=True)


def hungarian_accuracy(labels: np.ndarray, predictions: np.ndarray, k: int) -> float:
    """Accuracy under the best one-to-one cluster -> class mapping (k clusters, k classes)."""
    counts = np.zeros((k, k))
    np.add.at(counts, (predictions, labels), 1)
    rows, cols = linear_sum_assignment(-counts)
    return counts[rows, cols].sum() / len(labels)


def accuracy_before_and_after_training(method, k: int, steps: int = 60) -> tuple[float, float]:
    """Eval-mode accuracy on 3 x 40 separable 6-d blobs before and after ``steps`` Adam steps on noisy views."""
    x, y = blobs(40, k, 6, seed=2)
    val = Batch(views={"val": x}, index=torch.arange(len(y)), label=y)

    def accuracy() -> float:
        method.eval()
        with torch.no_grad():
            predictions = method.predict(val).argmax(1).numpy()
        method.train()
        return hungarian_accuracy(y.numpy(), predictions, k)

    before = accuracy()
    optimiser = torch.optim.Adam(method.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        order = torch.randperm(len(y), generator=generator)[:60]
        views = {
            name: x[order] + noise * torch.randn(60, 6, generator=generator)
            for name, noise in (("weak", 0.2), ("strong", 0.5))
        }
        step = method.train_step(Batch(views=views, index=order, label=y[order]))
        optimiser.zero_grad()
        step.loss.backward()
        optimiser.step()
    return before, accuracy()
