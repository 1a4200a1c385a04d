"""faiss k-NN, seeded k-means and density regions, checked against brute-force NumPy and scikit-learn."""

from __future__ import annotations

import threading

import faiss
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from trainables import neighbours
from trainables.density import HIGH, LOW, MID, density_regions
from trainables.errors import ConfigError
from trainables.neighbours import kmeans, kmeans_plus_plus, knn, mean_knn_distance_within_groups


def brute_force_distances(x: np.ndarray) -> np.ndarray:
    """[N, N] Euclidean distances in float64 with +inf on the diagonal (a point is not its own neighbour)."""
    x = x.astype(np.float64)
    distances = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=-1))
    np.fill_diagonal(distances, np.inf)
    return distances


@pytest.mark.parametrize(("n", "dim", "k"), [(50, 3, 1), (80, 16, 7), (30, 2, 29)])
def test_knn_l2_matches_brute_force(n: int, dim: int, k: int) -> None:
    x = np.random.default_rng(n).normal(size=(n, dim)).astype(np.float32)
    distances, indices = knn(x, k)
    reference = brute_force_distances(x)
    expected_indices = np.argsort(reference, axis=1, kind="stable")[:, :k]
    np.testing.assert_allclose(distances, np.take_along_axis(reference, expected_indices, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.sort(indices, axis=1), np.sort(expected_indices, axis=1))


def test_knn_inner_product_matches_brute_force() -> None:
    x = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    scores, indices = knn(x, 4, metric="ip")
    similarity = x.astype(np.float64) @ x.T.astype(np.float64)
    np.fill_diagonal(similarity, -np.inf)
    expected_indices = np.argsort(-similarity, axis=1, kind="stable")[:, :4]
    np.testing.assert_allclose(scores, np.take_along_axis(similarity, expected_indices, 1), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(np.sort(indices, axis=1), np.sort(expected_indices, axis=1))


def test_knn_clips_k_and_handles_a_single_point() -> None:
    x = np.random.default_rng(2).normal(size=(4, 3))
    distances, indices = knn(x, 10)
    assert distances.shape == indices.shape == (4, 3)
    for row, row_neighbours in enumerate(indices):
        assert sorted(row_neighbours) == sorted(set(range(4)) - {row})
    distances, indices = knn(x[:1], 10)
    assert distances.shape == indices.shape == (1, 0)


def test_knn_never_returns_the_point_itself_among_duplicates() -> None:
    x = np.repeat(np.random.default_rng(3).normal(size=(5, 2)), 3, axis=0)  # every point three times
    distances, indices = knn(x, 2)
    assert not (indices == np.arange(x.shape[0])[:, None]).any()
    np.testing.assert_array_equal(distances, 0.0)
    assert (indices // 3 == np.arange(x.shape[0])[:, None] // 3).all()


def test_knn_rejects_misuse() -> None:
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="k >= 1"):
        knn(x, 0)
    with pytest.raises(ValueError, match="metric"):
        knn(x, 2, metric="cosine")
    with pytest.raises(ValueError, match="2-D"):
        knn(x.ravel(), 2)


def test_mean_knn_distance_within_groups_matches_brute_force_per_group() -> None:
    rng = np.random.default_rng(6)
    x = 1e3 + rng.normal(size=(40, 5))  # a large common offset, which centring must absorb
    x[7] = x[3]  # an exact duplicate: still never its own neighbour
    groups = [np.array([3, 7, 11, 20, 33, 39]), np.array([0]), np.array([1, 2]), np.arange(21, 33)]
    distances = mean_knn_distance_within_groups(x, groups, k=3)
    expected = np.zeros(40)
    for members in groups[2:] + groups[:1]:
        pairwise = brute_force_distances(x[members] - x[members].mean(axis=0))
        expected[members] = np.sort(pairwise, axis=1)[:, : min(3, members.size - 1)].mean(axis=1)
    np.testing.assert_allclose(distances, expected, rtol=1e-5, atol=1e-5)


@pytest.fixture
def two_openmp_threads():
    """OpenMP set to two threads in this thread, as on a 2-core machine, and restored after."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    yield
    faiss.omp_set_num_threads(before)


def meet_at(barrier: threading.Barrier, piece):
    """``piece``, run only once as many threads as the barrier waits for are in it at once."""

    def gated(*args):
        barrier.wait()
        return piece(*args)

    return gated


def test_kmeans_restarts_and_knn_groups_run_on_two_threads_at_once(two_openmp_threads, monkeypatch) -> None:
    """A one-worker pool would leave each piece alone at its barrier, which then breaks (the timeout is a hang guard)."""
    x, _ = blobs(3, [40, 40], dim=4)
    barrier = threading.Barrier(2, timeout=60)
    monkeypatch.setattr(neighbours, "_restart", meet_at(barrier, neighbours._restart))
    kmeans(x, 2, seed=0, restarts=2)
    monkeypatch.setattr(neighbours, "_mean_knn_distance", meet_at(barrier, neighbours._mean_knn_distance))
    mean_knn_distance_within_groups(x, [np.arange(40), np.arange(40, 80)], k=3)


def blobs(seed: int, sizes: list[int], dim: int = 4, spread: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(len(sizes), dim))
    truth = np.repeat(np.arange(len(sizes)), sizes)
    return (centres[truth] + rng.normal(size=(truth.size, dim))).astype(np.float32), truth


def inertia(x: np.ndarray, centres: np.ndarray, labels: np.ndarray) -> float:
    return float(((x.astype(np.float64) - centres[labels]) ** 2).sum())


@pytest.mark.parametrize(("seed", "sizes", "dim"), [(0, [30, 25, 40], 4), (1, [200] * 12, 32), (2, [5, 80, 15, 60], 8)])
def test_kmeans_matches_scikit_learn_on_separable_data(seed: int, sizes: list[int], dim: int) -> None:
    x, truth = blobs(seed, sizes, dim)
    centres, labels = kmeans(x, len(sizes), seed=7, restarts=3)
    reference = KMeans(len(sizes), init="k-means++", n_init=3, random_state=7).fit(x.astype(np.float64))
    assert adjusted_rand_score(reference.labels_, labels) == pytest.approx(1.0)  # same partition up to relabelling
    assert adjusted_rand_score(truth, labels) == pytest.approx(1.0)
    assert inertia(x, centres, labels) <= 1.01 * reference.inertia_
    assert centres.dtype == np.float32 and labels.dtype == np.int64
    nearest = ((x[:, None, :] - centres[None]) ** 2).sum(-1).argmin(axis=1)
    np.testing.assert_array_equal(labels, nearest)


def test_kmeans_is_seeded() -> None:
    x, _ = blobs(3, [40] * 6, dim=5, spread=3.0)  # overlapping blobs, so different seeds can disagree
    centres, labels = kmeans(x, 6, seed=7, restarts=2)
    centres_again, labels_again = kmeans(x, 6, seed=7, restarts=2)
    np.testing.assert_array_equal(labels, labels_again)
    np.testing.assert_array_equal(centres, centres_again)


def test_kmeans_keeps_the_restart_with_the_lowest_inertia() -> None:
    x, _ = blobs(4, [30] * 8, dim=3, spread=2.5)
    single = [inertia(x, *kmeans(x, 8, seed=seed, restarts=1)) for seed in range(6)]
    best_of_many = inertia(x, *kmeans(x, 8, seed=0, restarts=6))
    assert best_of_many < np.median(single)


def test_kmeans_plus_plus_seeds_one_point_per_separated_blob() -> None:
    x, truth = blobs(5, [50] * 10, dim=6, spread=50.0)
    seeds = kmeans_plus_plus(x, 10, np.random.default_rng(0))
    rows = [int(np.flatnonzero((x == seed).all(axis=1))[0]) for seed in seeds]
    assert sorted(truth[rows]) == list(range(10))


def test_kmeans_rejects_more_clusters_than_samples() -> None:
    with pytest.raises(ConfigError, match="K=5 clusters from N=3 samples"):
        kmeans(np.zeros((3, 2)), 5, seed=0, restarts=1)


@pytest.mark.parametrize("n", [60, 61, 62])
def test_density_regions_rank_global_knn_distance_into_thirds(n: int) -> None:
    x = np.random.default_rng(n).standard_t(df=3, size=(n, 3))
    regions = density_regions(x, k=5)
    mean_distance = np.sort(brute_force_distances(x), axis=1)[:, :5].mean(axis=1)
    order = np.argsort(mean_distance, kind="stable")
    expected = np.empty(n, dtype=np.int64)
    for region, chunk in zip((HIGH, MID, LOW), np.array_split(order, 3)):
        expected[chunk] = region
    np.testing.assert_array_equal(np.bincount(regions, minlength=3), np.bincount(expected, minlength=3))
    np.testing.assert_array_equal(regions, expected)
