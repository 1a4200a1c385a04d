"""DACHI's per-cluster neighbour step at Tiny-ImageNet scale: faiss against scikit-learn, on CPU.

Draws a Gaussian mixture (default 100,000 x 512 float32, K = 200 components), takes the mixture
components as the cluster labels, and times d_i (mean distance to the k = 10 nearest neighbours
inside each cluster) two ways on the same labels: ``density_weights`` (faiss, per cluster) and
scikit-learn's ``NearestNeighbors`` per cluster. Prints both times, their ratio and the largest
difference between the two d vectors.

Usage:
    python benchmarks/dachi_scale.py [--samples 100000] [--dim 512] [--clusters 200] [--k 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

from trainables.plugins.prototypes import density_weights


def gaussian_mixture(samples: int, dim: int, clusters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """[samples, dim] float32 points and their [samples] component labels (equal-size components,
    each with its own scale, so densities differ between clusters)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, clusters, size=samples)
    centres = rng.normal(scale=4.0, size=(clusters, dim)).astype(np.float32)
    scales = rng.uniform(0.5, 2.0, size=clusters).astype(np.float32)
    noise = rng.standard_normal(size=(samples, dim), dtype=np.float32)
    return centres[labels] + scales[labels, None] * noise, labels


def sklearn_knn_distance(features: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """[N] d_i computed per cluster with scikit-learn (the reference for the faiss path)."""
    d = np.zeros(features.shape[0])
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        if members.size < 2:
            continue
        n_neighbours = min(k, members.size - 1) + 1  # +1: the query point itself comes back first
        search = NearestNeighbors(n_neighbors=n_neighbours).fit(features[members])
        distances, _ = search.kneighbors(features[members])
        d[members] = distances[:, 1:].mean(axis=1)
    return d


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    features, labels = gaussian_mixture(args.samples, args.dim, args.clusters, args.seed)
    (d_faiss, _), faiss_seconds = timed(density_weights, features, labels, args.k, 2.0)
    d_sklearn, sklearn_seconds = timed(sklearn_knn_distance, features, labels, args.k)
    relative_gap = np.abs(d_faiss - d_sklearn).max() / d_sklearn.max()
    print(f"data: {args.samples} x {args.dim} float32, K={args.clusters}, k={args.k}")
    print(f"faiss per-cluster d_i:        {faiss_seconds:8.2f} s")
    print(f"scikit-learn per-cluster d_i: {sklearn_seconds:8.2f} s")
    print(f"speed-up (sklearn / faiss):   {sklearn_seconds / faiss_seconds:8.2f} x")
    print(f"max |d_faiss - d_sklearn| / max d: {relative_gap:.2e}")
    if not np.allclose(d_faiss, d_sklearn, rtol=1e-4, atol=1e-4 * d_sklearn.max()):
        raise SystemExit("faiss and scikit-learn disagree on d_i")


if __name__ == "__main__":
    main()
