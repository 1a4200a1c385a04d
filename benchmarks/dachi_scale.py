"""DACHI's whole head initialisation at Tiny-ImageNet scale: faiss against scikit-learn, in one run.

Draws a Gaussian mixture (default 100,000 x 512 float32, K = 200 components, separable) and runs the
three steps of ``DachiInit.centres`` two ways on the same points:
1. K-means with ``--restarts`` k-means++ restarts: ``trainables.neighbours.kmeans`` (faiss) against
   scikit-learn's ``KMeans``;
2. d_i, the mean distance to the k = 10 nearest neighbours inside each cluster: ``density_weights``
   (exact, one Gram product per cluster) against scikit-learn's ``NearestNeighbors`` per cluster, each on its own labels
   (nearly the same work: the two partitions agree to an ARI of about 0.98 on this mixture);
3. the weighted prototypes of Eq. 2 (one shared NumPy implementation, on each path's own labels and weights).
Prints each step's seconds, the whole-initialisation seconds and ratios, the adjusted Rand index
between the two K-means partitions and against the mixture components, and the largest d_i gap.
Set OMP_NUM_THREADS to the cores to measure on (the target is stated for 2).

Measured 2026-12-02, OMP_NUM_THREADS=2 on a quiet 2-core box, once both thread pools (the K-means restarts and the
per-cluster kNN) really ran on two threads: until then ``threadpool_limits(1)`` was entered before OpenMP's thread count
was read, so each pool had one worker. Default 5 restarts: whole init 2.43 s against scikit-learn's 95.4 s (39x);
K-means 2.01 s (46x), kNN 0.32 s against 1.77 s (5.5x), prototypes 0.09 s. With --restarts 1: whole init 1.57 s
against 20.9 s, kNN 5.7x. scikit-learn's per-cluster kNN runs on one core (its CPU seconds equal its wall seconds), so
the kNN ratio is 3.0-3.2x in CPU seconds: both paths compute each cluster's n^2 D Gram matrix (ours in float32, half
of it), and ours spreads the clusters over the cores.

Usage:
    python benchmarks/dachi_scale.py [--samples 100000] [--dim 512] [--clusters 200] [--k 10] [--restarts 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from trainables.config import InitConfig
from trainables.errors import ConfigError
from trainables.neighbours import kmeans
from trainables.plugins.prototypes import density_weights, weighted_prototypes


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


CPU_SECONDS: dict[str, float] = {}  # process CPU seconds (all threads) per timed step: a loaded box inflates wall time


def timed(function, *args, step: str):
    start, cpu_start = time.perf_counter(), time.process_time()
    result = function(*args)
    CPU_SECONDS[step] = time.process_time() - cpu_start
    return result, time.perf_counter() - start


def dachi_weights(d: np.ndarray, labels: np.ndarray, alpha: float) -> np.ndarray:
    """w_i = exp(alpha d_i - max over the cluster), as ``density_weights`` forms it."""
    cluster_max = np.zeros(labels.max() + 1)
    np.maximum.at(cluster_max, labels, alpha * d)
    return np.exp(alpha * d - cluster_max[labels])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=2.0)
    parser.add_argument("--restarts", type=int, default=InitConfig().kmeans_restarts)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    features, truth = gaussian_mixture(args.samples, args.dim, args.clusters, args.seed)
    try:
        (_, labels), kmeans_s = timed(kmeans, features, args.clusters, args.seed, args.restarts, step="faiss K-means")
    except ConfigError as error:  # --clusters above --samples
        parser.exit(2, f"error: {error}\n")
    (d, weights), knn_s = timed(density_weights, features, labels, args.k, args.alpha, step="faiss kNN d_i")
    _, prototypes_s = timed(weighted_prototypes, features, labels, weights, args.clusters, step="faiss prototypes")
    print(f"data: {args.samples} x {args.dim} float32, K={args.clusters}, k={args.k}, restarts={args.restarts}")
    print(f"faiss path done: {kmeans_s + knn_s + prototypes_s:.2f} s (scikit-learn path follows)", flush=True)

    reference = KMeans(args.clusters, init="k-means++", n_init=args.restarts, random_state=args.seed)
    sk_labels, sk_kmeans_s = timed(reference.fit_predict, features, step="sklearn K-means")
    sk_d, sk_knn_s = timed(sklearn_knn_distance, features, sk_labels, args.k, step="sklearn kNN d_i")
    sk_weights = dachi_weights(sk_d, sk_labels, args.alpha)
    _, sk_prototypes_s = timed(weighted_prototypes, features, sk_labels, sk_weights, args.clusters, step="sklearn prototypes")

    ours = kmeans_s + knn_s + prototypes_s
    theirs = sk_kmeans_s + sk_knn_s + sk_prototypes_s
    print(f"{'step':<22}{'faiss (s)':>10}{'sklearn (s)':>12}{'ratio':>8}{'cpu faiss':>11}{'cpu sklearn':>12}{'ratio':>8}")
    for step, a, b in [("K-means", kmeans_s, sk_kmeans_s), ("kNN d_i", knn_s, sk_knn_s),
                       ("prototypes", prototypes_s, sk_prototypes_s), ("whole initialisation", ours, theirs)]:
        cpu_a = sum(CPU_SECONDS[f"faiss {name}"] for name in _steps(step))
        cpu_b = sum(CPU_SECONDS[f"sklearn {name}"] for name in _steps(step))
        print(f"{step:<22}{a:>10.2f}{b:>12.2f}{b / a:>7.1f}x{cpu_a:>11.2f}{cpu_b:>12.2f}{cpu_b / cpu_a:>7.1f}x")
    print(f"ARI(faiss labels, sklearn labels) = {adjusted_rand_score(sk_labels, labels):.4f}; "
          f"ARI vs mixture components: faiss {adjusted_rand_score(truth, labels):.4f}, "
          f"sklearn {adjusted_rand_score(truth, sk_labels):.4f}")
    if adjusted_rand_score(sk_labels, labels) < 1.0:
        print("the two K-means partitions differ, so their d_i are not compared")
        return
    relative_gap = np.abs(d - sk_d).max() / sk_d.max()
    print(f"max |d_faiss - d_sklearn| / max d: {relative_gap:.2e}")
    if not np.allclose(d, sk_d, rtol=1e-4, atol=1e-4 * sk_d.max()):
        raise SystemExit("faiss and scikit-learn disagree on d_i")


def _steps(row: str) -> list[str]:
    return ["K-means", "kNN d_i", "prototypes"] if row == "whole initialisation" else [row]


if __name__ == "__main__":
    main()
