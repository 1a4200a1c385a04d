"""Density regions for evaluation by region (method.md, paper Table 4)."""

from __future__ import annotations

import numpy as np

from trainables.neighbours import knn

HIGH, MID, LOW = 0, 1, 2  # indices into ``trainables.metrics.REGIONS`` ("high", "mid", "low")


def density_regions(features: np.ndarray, k: int = 10) -> np.ndarray:
    """Split the samples into density thirds by their global k-NN mean distance.

    Every sample's mean Euclidean distance to its ``k`` nearest neighbours over the whole dataset
    (not per cluster) is ranked; the smallest third is ``HIGH`` (0) density, the middle third
    ``MID`` (1), the largest third ``LOW`` (2). Ties are broken by sample index; when N is not
    a multiple of 3 the regions differ in size by at most one.

    Args:
        features: [N, D] pre-trained features, N >= 2.
        k: neighbours per sample (clipped to N - 1).

    Returns:
        [N] int64 region ids in {0, 1, 2}.
    """
    distances, _ = knn(features, k)
    density_rank = np.empty(features.shape[0], dtype=np.int64)
    density_rank[np.argsort(distances.mean(axis=1), kind="stable")] = np.arange(features.shape[0])
    return density_rank * 3 // features.shape[0]
