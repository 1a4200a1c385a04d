"""Nearest neighbours and K-means with faiss (GPU when present), K-means seeded by k-means++.

These are the search primitives the plug-ins share: DACHI's per-cluster densities (exact kNN inside
each group, one Gram matrix per group), the density regions of the evaluation and the affinity graph
of spectral clustering.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from trainables.errors import ConfigError

if TYPE_CHECKING:
    import faiss

# faiss is imported where it is used: importing it takes seconds, and plug-in registration imports this module.
Metric = Literal["l2", "ip"]

_FLAT_INDEXES = {"l2": "IndexFlatL2", "ip": "IndexFlatIP"}  # faiss's exact index class of each metric

LLOYD_ITERATIONS = 100  # cap on the polish; faiss's default of 25 stopped short on digits features (ACC 77 vs 85)
SCREENING_ITERATIONS = 20  # cap on each restart's Lloyd run before the best is polished
LLOYD_CHUNK = 5  # iterations per faiss call between convergence checks
CONVERGENCE_TOLERANCE = 1e-5  # stop once an iteration lowers the inertia by less than this fraction
TRAINING_POINTS_PER_CENTROID = 256  # faiss's default subsample, for the polish
SCREENING_POINTS_PER_CENTROID = 64  # the restarts compete on this smaller shared subsample
SEEDING_POINTS_PER_CENTROID = 16  # k-means++ costs K passes over its points, so it seeds from few
SMALL_GROUP = 20  # smaller kNN groups are searched in float64 (faiss's own switch to float32 BLAS is at 20 queries)
SUBSAMPLE_MIN = 4096  # screening and seeding never use fewer points (small data uses all its points)


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


def mean_knn_distance_within_groups(x: np.ndarray, groups: list[np.ndarray], k: int) -> np.ndarray:
    """[N] mean Euclidean distance from each row of ``x`` to its ``k`` nearest other rows of its own group.

    Exact. A group of at most k members uses all its other members; a singleton (or a row in no group)
    gets 0. Each group is centred and searched through its float32 Gram matrix (float64 below ``SMALL_GROUP``), one
    symmetric BLAS product per group; the groups are spread over the cores, one BLAS thread each,
    since a group of a few hundred rows is too small to split.

    Args:
        x: [N, D] points.
        groups: disjoint index arrays into the rows of ``x``.
        k: neighbours per row, >= 1.
    """
    distances = np.zeros(x.shape[0], dtype=np.float64)

    def search(members: np.ndarray) -> None:
        if members.size < 2:
            return
        precision = np.float64 if members.size < SMALL_GROUP else np.float32
        group = x[members].astype(precision)  # a copy, centred in place (any shift keeps the distances)
        group -= group.mean(axis=0, dtype=np.float64).astype(precision)
        distances[members] = _mean_knn_distance(group, min(k, members.size - 1))

    with _core_pool() as pool:
        list(pool.map(search, groups))
    return distances


def _mean_knn_distance(points: np.ndarray, k: int) -> np.ndarray:
    """[M] mean distance from each of the [M, D] ``points`` to its k nearest others (k < M).

    |x_i - x_j|^2 = |x_i|^2 + (|x_j|^2 - 2 <x_i, x_j>): the first term is the same along row i, so the k nearest
    are selected on the second and |x_i|^2 is added to the k selected only.
    """
    partial = points @ points.T  # NumPy computes x x^T as one symmetric product (syrk)
    norms = np.einsum("ij,ij->i", points, points)
    partial *= -2.0
    partial += norms[None, :]
    np.fill_diagonal(partial, np.inf)  # never its own neighbour, even among exact duplicates
    nearest = np.partition(partial, k - 1, axis=1)[:, :k] + norms[:, None]
    return np.sqrt(np.maximum(nearest, 0.0), dtype=np.float64).mean(axis=1)


def _flat_index(dim: int, metric: Metric) -> faiss.Index:
    """An exact flat index, moved to every GPU when faiss sees one."""
    import faiss

    index = getattr(faiss, _FLAT_INDEXES[metric])(dim)
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
    """faiss K-means (GPU when faiss sees one) from greedy k-means++ seeds; the best of ``restarts`` wins.

    Restarts are screened cheaply, then the winner is polished:
    1. the restarts run in parallel, one core each; each seeds with ``kmeans_plus_plus`` on
       ``SEEDING_POINTS_PER_CENTROID * K`` points and runs Lloyd on a shared screening subsample of
       ``SCREENING_POINTS_PER_CENTROID * K`` points, so their inertias compare (both at least ``SUBSAMPLE_MIN``);
    2. the restart with the lowest inertia continues on the training subsample of
       ``TRAINING_POINTS_PER_CENTROID * K`` points (faiss's own default), for up to ``LLOYD_ITERATIONS``;
    3. its centres label every point by its nearest centre.
    Every Lloyd run stops early once an iteration lowers the inertia by less than
    ``CONVERGENCE_TOLERANCE`` (relative). Subsamples are all points when N is smaller. faiss has no
    k-means++ and its ``nredo`` would restart from the same given seeds, so seeds and restarts are drawn here.

    Args:
        x: [N, D] points (searched in float32).
        n_clusters: K.
        seed: seeds the subsamples, the k-means++ draws and faiss, so repeated CPU runs give identical results.
        restarts: number of seeded k-means++ initialisations.

    Returns:
        ``(centres, labels)``: [K, D] float32 and [N] int64, each label the index of the nearest centre.

    Raises:
        ConfigError: if K > N.
    """
    n = x.shape[0]
    if n < n_clusters:
        raise ConfigError(
            f"K-means cannot form K={n_clusters} clusters from N={n} samples; "
            f"use K <= {n} or give it more samples"
        )
    points = np.ascontiguousarray(x, dtype=np.float32)
    rng = np.random.default_rng(seed)
    training = _subsample(points, TRAINING_POINTS_PER_CENTROID * n_clusters, rng)
    screening = _subsample(training, max(SCREENING_POINTS_PER_CENTROID * n_clusters, SUBSAMPLE_MIN), rng)
    with _core_pool() as pool:
        restarts_run = pool.map(lambda restart_rng: _restart(screening, n_clusters, restart_rng), rng.spawn(restarts))
        best_centres, _ = min(restarts_run, key=lambda centres_and_inertia: centres_and_inertia[1])
    best_centres, _ = _lloyd(training, best_centres, LLOYD_ITERATIONS, rng)
    index = _flat_index(points.shape[1], "l2")
    index.add(best_centres)
    _, labels = index.search(points, 1)
    return best_centres.astype(np.float32, copy=False), labels[:, 0].astype(np.int64)


def _restart(points: np.ndarray, n_clusters: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One screening restart on one core: k-means++ seeds, then Lloyd; returns (centres, inertia)."""
    import faiss

    faiss.omp_set_num_threads(1)  # OpenMP's thread count is per calling thread: this pool thread only
    seeding = _subsample(points, max(SEEDING_POINTS_PER_CENTROID * n_clusters, SUBSAMPLE_MIN), rng)
    return _lloyd(points, kmeans_plus_plus(seeding, n_clusters, rng), SCREENING_ITERATIONS, rng)


@contextmanager
def _core_pool() -> Iterator[ThreadPoolExecutor]:
    """A thread pool for work split into independent single-threaded pieces, with BLAS limited to one thread.

    One worker per OpenMP thread, counted before the limit: inside ``threadpool_limits(1)`` OpenMP reports one.
    """
    import faiss

    workers = faiss.omp_get_max_threads()
    with threadpool_limits(1), ThreadPoolExecutor(workers) as pool:
        yield pool


def _lloyd(
    points: np.ndarray, centres: np.ndarray, max_iterations: int, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """faiss Lloyd iterations from ``centres``, in chunks of ``LLOYD_CHUNK``, until the inertia settles.

    Returns the new [K, D] centres and the inertia of the last assignment step.
    """
    import faiss

    n_clusters, dim = centres.shape
    objectives: list[float] = []
    for done in range(0, max_iterations, LLOYD_CHUNK):
        model = faiss.Kmeans(
            dim,
            n_clusters,
            niter=min(LLOYD_CHUNK, max_iterations - done),
            seed=int(rng.integers(2**31)),
            max_points_per_centroid=-(-len(points) // n_clusters),  # no second subsample inside faiss
            min_points_per_centroid=1,  # small N is fine here; faiss would only print a warning
            gpu=faiss.get_num_gpus() > 0,
        )
        model.train(points, init_centroids=centres)
        centres = model.centroids
        objectives.extend(model.obj)
        if len(objectives) >= 2 and objectives[-2] - objectives[-1] <= CONVERGENCE_TOLERANCE * objectives[-2]:
            break
    return centres, objectives[-1]


def kmeans_plus_plus(points: np.ndarray, n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy k-means++ seeds (Arthur & Vassilvitskii 2007), as scikit-learn draws them.

    Each new seed is the best, by the resulting sum of squared distances, of ``2 + ln K`` candidates drawn
    with probability proportional to the squared distance to the nearest seed so far.

    Args:
        points: [M, D] float32 points with M >= K.

    Returns:
        [K, D] float32 seeds, rows of ``points``.
    """
    squared_norms = np.einsum("ij,ij->i", points, points, dtype=np.float64)
    trials = 2 + int(np.log(n_clusters))
    chosen = [int(rng.integers(len(points)))]
    closest = _squared_distances(points, squared_norms, chosen)[:, 0]
    for _ in range(1, n_clusters):
        cumulative = np.cumsum(closest)
        candidates = np.searchsorted(cumulative, rng.random(trials) * cumulative[-1])
        candidates = np.minimum(candidates, len(points) - 1)
        distances = np.minimum(closest[:, None], _squared_distances(points, squared_norms, candidates))
        best = int(distances.sum(axis=0).argmin())
        chosen.append(int(candidates[best]))
        closest = distances[:, best]
    return points[chosen]


def _squared_distances(points: np.ndarray, squared_norms: np.ndarray, indices) -> np.ndarray:
    """[M, len(indices)] squared Euclidean distances from every point to ``points[indices]``, in float64."""
    products = points @ points[indices].T
    return np.maximum(squared_norms[:, None] - 2.0 * products + squared_norms[indices], 0.0)


def _subsample(points: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` distinct rows drawn uniformly, or all rows (same order) when there are not more."""
    if len(points) <= size:
        return points
    return points[np.sort(rng.choice(len(points), size, replace=False))]
