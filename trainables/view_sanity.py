"""Label-free view sanity: do the training views keep what the encoder sees in the val view?

K-means (K = number of classes) clusters the encoder's features of the val view and of one augmented view of every
sample; the agreement is the NMI between the two partitions. A view that keeps the class moves features little, so
the partitions agree; a view that destroys it scatters them.

AGREEMENT_THRESHOLD from ``benchmarks/view_sanity.py`` (pre-trained small_cnn encoders, mean of 2 draws): the
registered views, which keep K-means ACC at >= 0.87x the val view's, agree at NMI 0.68-0.83 (digits, COIL-20 at
32 px; 0.77-0.93 on vector data); SCAN's full views on 8 px digits, which keep 0.39x (weak) and 0.25x (strong),
at 0.23 and 0.08; a crop scale of (0.5, 1) with 2 operations at magnitude 0.5, keeping 0.67x, at 0.50.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from trainables.metrics import nmi
from trainables.neighbours import kmeans

AGREEMENT_THRESHOLD = 0.5
CHECKED_VIEWS = ("weak", "strong")
KMEANS_RESTARTS = 3
MAX_SAMPLES = 5000


@dataclass(frozen=True)
class ViewAgreement:
    """NMI between K-means partitions of val-view and ``view`` features of one dataset."""

    dataset: str
    view: str
    nmi: float

    @property
    def healthy(self) -> bool:
        return self.nmi >= AGREEMENT_THRESHOLD

    def warning(self) -> str:
        """One line naming the dataset, the view and the measured agreement."""
        return (
            f"warning: the {self.view!r} view of dataset {self.dataset!r} agrees with the val view at NMI "
            f"{self.nmi:.2f} (< {AGREEMENT_THRESHOLD}) on K-means of the encoder's features; it may destroy the "
            "class, so trials still run but training on it may not learn"
        )


@torch.no_grad()
def view_features(encoder: nn.Module, dataset, view: str, seed: int, batch_size: int = 512) -> np.ndarray:
    """Features [N, D] float32 of one draw of ``view`` for every sample, in eval mode, repeatable per ``seed``.

    ``dataset`` has ``with_views(views)`` whose items are ``(views dict, index, label)`` (a ClusteringDataset);
    the encoder's device and mode and torch's global RNG state are kept.
    """
    loader = DataLoader(dataset.with_views((view,)), batch_size=batch_size, shuffle=False)
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        parts = [encoder(views[view].to(device)).float().cpu() for views, _, _ in loader]
    finally:
        torch.set_rng_state(state)
        encoder.train(was_training)
    return torch.cat(parts).numpy()


def cluster_labels(
    features: np.ndarray, num_clusters: int, seed: int, restarts: int = KMEANS_RESTARTS
) -> np.ndarray:
    """K-means labels [N] of L2-normalised ``features`` [N, D], the best of ``restarts``."""
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return kmeans(features / np.maximum(norms, 1e-12), num_clusters, seed, restarts)[1]


def check_views(
    encoder: nn.Module,
    dataset,
    val_features: np.ndarray,
    seed: int,
    views: tuple[str, ...] = CHECKED_VIEWS,
    max_samples: int = MAX_SAMPLES,
) -> list[ViewAgreement]:
    """The agreement of each of ``views`` with the val view, whose features [N, D] are given (the cached ones).

    Datasets larger than ``max_samples`` are checked on a seeded random subset of that size.
    """
    indices = np.arange(len(dataset))
    if len(indices) > max_samples:
        indices = np.sort(np.random.default_rng(seed).choice(len(indices), max_samples, replace=False))
    subset = SampleSubset(dataset, indices)
    clusters = dataset.num_classes
    val_labels = cluster_labels(np.asarray(val_features)[indices], clusters, seed)
    results = []
    for view in views:
        view_labels = cluster_labels(view_features(encoder, subset, view, seed), clusters, seed)
        results.append(ViewAgreement(dataset.name, view, nmi(val_labels, view_labels)))
    return results


class SampleSubset:
    """The items ``indices`` of a ClusteringDataset, with its ``with_views``."""

    def __init__(self, dataset, indices: np.ndarray) -> None:
        self.dataset = dataset
        self.indices = indices

    def with_views(self, views: tuple[str, ...]) -> Subset:
        return Subset(self.dataset.with_views(views), self.indices.tolist())
