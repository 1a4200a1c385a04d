"""Nearest neighbours with faiss (GPU when present) and seeded k-means++ clustering.

These are the two search primitives the plug-ins share: DACHI's per-cluster densities, the density
regions of the evaluation and the affinity graph of spectral clustering.
"""

from __future__ import annotations

from typing import Literal

import faiss
import numpy as np
from sklearn.cluster import KMeans

from trainables.errors import DataError

Metric = Literal["l2", "ip"]

_FLAT_INDEXES = {"l2": faiss.IndexFlatL2, "ip": faiss.IndexFlatIP}


def knn(x: np.ndarray, k: int, metric: Metric = "l2") -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest neighbours of every row of ``x`` among the other rows, nearest first.

    Args:
        x: [N, D] points (any float dtype; searched in float32).
        k: neighbours per point; clipped to N - 1, so a single point gets none.
        metric: ``"l2"`` for Euclidean distance (not squared), ``"ip"`` for inner product
            (larger is nearer).

    Returns:
        ``(distances, indices)``, both [N, min(k, N - 1)]; distances float32, indices int64.
        A point is never its own neighbour, even when it has exact duplicates.

    Raises:
        ValueError: if ``x`` is not 2-D, ``k < 1`` or ``metric`` is unknown.
    """
    if x.ndim != 2:
        raise ValueError(f"knn expects a 2-D [N, D] array, but got shape {x.shape}")
    if k < 1:
        raise ValueError(f"knn needs k >= 1, but got k={k}")
    if metric not in _FLAT_INDEXES:
        raise ValueError(f"knn metric must be one of {sorted(_FLAT_INDEXES)}, but got {metric!r}")
    n = x.shape[0]
    k = min(k, n - 1)
    if k == 0:
        return np.zeros((n, 0), dtype=np.float32), np.zeros((n, 0), dtype=np.int64)
    points = np.ascontiguousarray(x, dtype=np.float32)
    index = _flat_index(points.shape[1], metric)
    index.add(points)
    scores, indices = index.search(points, k + 1)
    scores, indices = _drop_self(scores, indices.astype(np.int64), k)
    if metric == "l2":
        scores = np.sqrt(np.maximum(scores, 0.0))
    return scores.astype(np.float32, copy=False), indices


def _flat_index(dim: int, metric: Metric) -> faiss.Index:
    """An exact flat index, moved to every GPU when faiss sees one."""
    index = _FLAT_INDEXES[metric](dim)
    if faiss.get_num_gpus() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    return index


def _drop_self(
    scores: np.ndarray, indices: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Remove each row's own index from [N, k+1] search results, or its last entry if absent."""
    is_self = indices == np.arange(indices.shape[0])[:, None]
    self_missing = ~is_self.any(axis=1)
    is_self[self_missing, -1] = True
    # Each row now has exactly one flagged entry; keep the other k in their original order.
    keep = ~is_self
    return scores[keep].reshape(-1, k), indices[keep].reshape(-1, k)


def kmeans(
    x: np.ndarray, n_clusters: int, seed: int, restarts: int
) -> tuple[np.ndarray, np.ndarray]:
    """K-means with k-means++ seeding and ``restarts`` seeded restarts; the best inertia wins.

    Args:
        x: [N, D] points.
        n_clusters: K.
        seed: seeds the k-means++ draws, so repeated CPU runs give identical results.
        restarts: number of k-means++ initialisations.

    Returns:
        ``(centres, labels)``: [K, D] float32 and [N] int64.

    Raises:
        DataError: if there are fewer points than clusters.
    """
    if x.shape[0] < n_clusters:
        raise DataError(
            f"cannot form {n_clusters} clusters from {x.shape[0]} samples; "
            f"use at least {n_clusters} samples or fewer clusters"
        )
    model = KMeans(n_clusters=n_clusters, init="k-means++", n_init=restarts, random_state=seed)
    labels = model.fit_predict(np.asarray(x, dtype=np.float64))  # float64: scikit-learn float32 k-means is ~6x slower here
    return model.cluster_centers_.astype(np.float32), labels.astype(np.int64)
