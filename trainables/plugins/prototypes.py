"""DACHI's density weights (method.md step 3-4, Eq. 1) and weighted prototypes (step 5, Eq. 2).

Pure functions: labels in, weights and centres out. The initialisers build on them.
"""

from __future__ import annotations

import numpy as np

from trainables.neighbours import mean_knn_distance_within_groups


def density_weights(
    features: np.ndarray, labels: np.ndarray, k: int, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample within-cluster k-NN distance d_i and density weight w_i.

    d_i is the mean Euclidean distance from z_i to its k nearest neighbours inside its own
    cluster, excluding itself; a cluster with fewer than k + 1 members uses all its other
    members and a singleton gets d_i = 0. The weight is w_i = exp(alpha * d_i - max_{j in C} alpha * d_j),
    which for alpha >= 0 is exp(alpha * (d_i - max_{j in C} d_j)): exp(alpha * d_i) up to a
    per-cluster factor that cancels in ``weighted_prototypes``. Every exponent is <= 0, so no
    finite alpha can overflow; alpha = 0 gives w_i = 1 exactly.

    Each cluster is searched on its own (exact, ``mean_knn_distance_within_groups``), after
    subtracting its mean so that float32 distances keep their precision on raw, un-normalised features.

    Args:
        features: [N, D] features z.
        labels: [N] cluster ids in [0, K).
        k: neighbours per sample, >= 1.
        alpha: finite density temperature (method.md default 2.0).

    Returns:
        ``(d, w)``: two [N] float64 arrays.
    """
    features = np.asarray(features)
    clusters = _cluster_members(labels)
    d = mean_knn_distance_within_groups(features, clusters, k)
    w = np.ones(features.shape[0], dtype=np.float64)
    for members in clusters:
        exponent = alpha * d[members]
        w[members] = np.exp(exponent - exponent.max())
    return d, w


def weighted_prototypes(
    features: np.ndarray, labels: np.ndarray, weights: np.ndarray, n_clusters: int
) -> np.ndarray:
    """c_j = sum_{i in C_j} w_i z_i / sum_{i in C_j} w_i, accumulated in float64 one cluster at a time.

    Args:
        features: [N, D] features z.
        labels: [N] cluster ids in [0, n_clusters).
        weights: [N] non-negative weights with a positive sum in every cluster.
        n_clusters: K.

    Returns:
        [K, D] float32 prototypes.

    Raises:
        ValueError: if a cluster has no members (its prototype would be undefined).
    """
    weights = np.asarray(weights, dtype=np.float64)
    prototypes = np.zeros((n_clusters, features.shape[1]), dtype=np.float32)
    defined = np.zeros(n_clusters, dtype=bool)
    for members in _cluster_members(labels):
        member_weights = weights[members]
        mass = member_weights.sum()
        if mass > 0:
            cluster = labels[members[0]]
            prototypes[cluster] = member_weights @ features[members].astype(np.float64) / mass
            defined[cluster] = True
    if not defined.all():
        empty = np.flatnonzero(~defined).tolist()
        raise ValueError(f"clusters {empty} have no members, so their prototypes are undefined")
    return prototypes


def _cluster_members(labels: np.ndarray) -> list[np.ndarray]:
    """Indices of each non-empty cluster, in one stable sort instead of K boolean scans."""
    order = np.argsort(labels, kind="stable")
    boundaries = np.flatnonzero(np.diff(np.asarray(labels)[order])) + 1
    return np.split(order, boundaries)
