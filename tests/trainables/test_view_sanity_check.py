"""The label-free view sanity check: NMI between K-means partitions of val-view and augmented-view features, against
scikit-learn directly; a view that scrambles the samples warns, one that keeps them does not."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import normalized_mutual_info_score
from torch import nn

from trainables.view_sanity import AGREEMENT_THRESHOLD, KMEANS_RESTARTS, check_views

SEED = 3


class FeatureViews:
    """A dataset whose 'views' of sample i are rows i of fixed feature arrays; the encoder is the identity."""

    name = "blobs"
    num_classes = 4

    def __init__(self, features: dict[str, np.ndarray]) -> None:
        self.features = features
        self.view = "val"

    def with_views(self, views: tuple[str, ...]) -> FeatureViews:
        other = FeatureViews(self.features)
        other.view = views[0]
        return other

    def __len__(self) -> int:
        return len(self.features["val"])

    def __getitem__(self, index: int):
        return {self.view: torch.from_numpy(self.features[self.view][index])}, index, 0


class Identity(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def sklearn_nmi(val: np.ndarray, view: np.ndarray) -> float:
    def labels(x: np.ndarray) -> np.ndarray:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        return KMeans(4, init="k-means++", n_init=KMEANS_RESTARTS, random_state=SEED).fit_predict(x.astype(np.float64))

    return normalized_mutual_info_score(labels(val), labels(view))


def test_agreement_matches_sklearn_and_warns_only_when_low() -> None:
    val, _ = make_blobs(600, n_features=8, centers=4, cluster_std=1.0, random_state=0)
    val = val.astype(np.float32)
    rng = np.random.default_rng(1)
    views = {
        "val": val,
        "weak": val + rng.normal(0, 0.3, val.shape).astype(np.float32),
        "strong": val[rng.permutation(len(val))],  # each sample's view is another sample's: the class is gone
    }
    results = {r.view: r for r in check_views(Identity(), FeatureViews(views), val, SEED)}
    for view in ("weak", "strong"):
        assert abs(results[view].nmi - sklearn_nmi(val, views[view])) < 1e-9
    assert results["weak"].nmi > 0.9 and results["weak"].healthy
    assert results["strong"].nmi < AGREEMENT_THRESHOLD and not results["strong"].healthy
    line = results["strong"].warning()
    assert "\n" not in line and "'blobs'" in line and "'strong'" in line and f"{results['strong'].nmi:.2f}" in line


def test_large_datasets_are_checked_on_a_subset() -> None:
    val, _ = make_blobs(300, n_features=8, centers=4, random_state=2)
    val = val.astype(np.float32)
    views = {"val": val, "weak": val.copy()}
    (result,) = check_views(Identity(), FeatureViews(views), val, SEED, views=("weak",), max_samples=100)
    assert result.nmi > 0.999
