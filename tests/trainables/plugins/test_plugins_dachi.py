"""DACHI's Eq. 1-2 and the head initialisation strategies, checked against a brute-force NumPy evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.cluster import SpectralClustering
from sklearn.datasets import make_circles
from sklearn.metrics import adjusted_rand_score

from trainables.config import InitConfig
from trainables.errors import DataError
from trainables.neighbours import kmeans
from trainables.plugins import INIT_STRATEGIES
from trainables.plugins.prototypes import density_weights, weighted_prototypes
from trainables.plugins.spectral import spectral_embedding_of, spectral_labels

# Two rings or a singleton make the k-NN graph disconnected, which scikit-learn warns about, as it should.
pytestmark = pytest.mark.filterwarnings("ignore:Graph is not fully connected")

SIZES = [1, 3, 6, 25, 40]  # a singleton, clusters smaller than k + 1 = 6 and of exactly k + 1, large ones
K_NEIGHBOURS = 5


def reference_d(features: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """d_i from dense pairwise distances inside each cluster (method.md step 3), float64."""
    x = features.astype(np.float64)
    d = np.zeros(len(x))
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        pairwise = np.sqrt(((x[members, None, :] - x[None, members, :]) ** 2).sum(-1))
        others = np.sort(pairwise, axis=1)[:, 1:]  # column 0 is the distance to itself
        if others.shape[1]:
            d[members] = others[:, :k].mean(axis=1)
    return d


def reference_prototypes(
    features: np.ndarray, labels: np.ndarray, d: np.ndarray, alpha: float, n_clusters: int
) -> np.ndarray:
    """Eq. 2 with normalised weights softmax(alpha * d) per cluster (log-sum-exp, so any scale works)."""
    x = features.astype(np.float64)
    return np.stack(
        [softmax(alpha * d[labels == j]) @ x[labels == j] for j in range(n_clusters)]
    )


def clustered_data(seed: int, scale: float = 1.0, dim: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(SIZES)), SIZES)
    centres = rng.normal(scale=10.0, size=(len(SIZES), dim))
    features = centres[labels] + rng.gamma(2.0, size=(labels.size, dim))
    order = rng.permutation(labels.size)  # clusters interleaved, as in real data
    return (scale * features[order]).astype(np.float32), labels[order]


@pytest.mark.parametrize("alpha", [0.0, 0.5, 2.0])
def test_weights_and_prototypes_match_eq_1_2(alpha: float) -> None:
    features, labels = clustered_data(0)
    d, w = density_weights(features, labels, K_NEIGHBOURS, alpha)
    expected_d = reference_d(features, labels, K_NEIGHBOURS)
    np.testing.assert_allclose(d, expected_d, rtol=1e-5, atol=1e-5)
    for cluster in np.unique(labels):  # w_i = exp(alpha d_i) up to a per-cluster factor
        members = labels == cluster
        direct = np.exp(alpha * expected_d[members])
        np.testing.assert_allclose(w[members], direct / direct.max(), rtol=1e-5)
    prototypes = weighted_prototypes(features, labels, w, len(SIZES))
    expected = reference_prototypes(features, labels, expected_d, alpha, len(SIZES))
    np.testing.assert_allclose(prototypes, expected, rtol=1e-5, atol=1e-5)


def test_singletons_and_small_clusters_use_all_other_members() -> None:
    features, labels = clustered_data(1)
    d, w = density_weights(features, labels, K_NEIGHBOURS, 2.0)
    singleton = labels == 0
    assert d[singleton] == 0.0 and w[singleton] == 1.0
    trio = np.flatnonzero(labels == 1)
    x = features[trio].astype(np.float64)
    first_to_others = np.linalg.norm(x[1:] - x[0], axis=1).mean()
    assert d[trio[0]] == pytest.approx(first_to_others, rel=1e-5)


def test_alpha_zero_gives_exactly_the_plain_means() -> None:
    features, labels = clustered_data(2)
    _, w = density_weights(features, labels, K_NEIGHBOURS, 0.0)
    np.testing.assert_array_equal(w, 1.0)
    means = np.stack([features[labels == j].astype(np.float64).mean(0) for j in range(len(SIZES))])
    np.testing.assert_allclose(weighted_prototypes(features, labels, w, len(SIZES)), means, rtol=1e-6)
    prototype = INIT_STRATEGIES.get("prototype")(InitConfig(kmeans_restarts=2))
    dachi = INIT_STRATEGIES.get("dachi")(InitConfig(alpha=0.0, k=K_NEIGHBOURS, kmeans_restarts=2))
    np.testing.assert_array_equal(dachi.centres(features, 4, seed=3), prototype.centres(features, 4, seed=3))


def test_no_overflow_at_alpha_50_on_raw_features() -> None:
    features, labels = clustered_data(3, scale=1000.0)
    d, w = density_weights(features, labels, K_NEIGHBOURS, 50.0)
    assert d.max() > 100.0  # raw scale: exp(50 * d) alone would overflow float64
    assert np.isfinite(w).all() and (w >= 0).all()  # far denser samples may underflow to 0, never overflow
    np.testing.assert_array_equal([w[labels == j].max() for j in range(len(SIZES))], 1.0)
    prototypes = weighted_prototypes(features, labels, w, len(SIZES))
    assert np.isfinite(prototypes).all()
    expected = reference_prototypes(features, labels, reference_d(features, labels, K_NEIGHBOURS), 50.0, len(SIZES))
    np.testing.assert_allclose(prototypes, expected, rtol=1e-5)


def test_weighted_prototypes_reject_an_empty_cluster() -> None:
    with pytest.raises(ValueError, match=r"clusters \[1\] have no members"):
        weighted_prototypes(np.ones((3, 2)), np.array([0, 2, 2]), np.ones(3), 3)


def test_dachi_centres_are_eq_2_on_seeded_kmeans_labels() -> None:
    features, _ = clustered_data(4)
    config = InitConfig(strategy="dachi", alpha=2.0, k=K_NEIGHBOURS, kmeans_restarts=3)
    centres = INIT_STRATEGIES.get("dachi")(config).centres(features, 4, seed=11)
    _, labels = kmeans(features, 4, seed=11, restarts=3)  # kmeans itself is checked against scikit-learn
    d = reference_d(features, labels, K_NEIGHBOURS)
    np.testing.assert_allclose(centres, reference_prototypes(features, labels, d, 2.0, 4), rtol=1e-5, atol=1e-5)
    assert centres.dtype == np.float32


def rings() -> tuple[np.ndarray, np.ndarray]:
    """Two concentric rings: not convex, so K-means fails and spectral clustering succeeds."""
    x, y = make_circles(n_samples=160, factor=0.4, noise=0.03, random_state=0)
    return (5.0 * x).astype(np.float32), y


def test_spectral_recovers_rings_like_scikit_learn_and_returns_plain_means() -> None:
    features, truth = rings()
    labels, weights = spectral_labels(features, 2, seed=0, restarts=3, k=K_NEIGHBOURS, alpha=0.0)
    sklearn_labels = SpectralClustering(2, affinity="nearest_neighbors", random_state=0).fit_predict(features)
    assert adjusted_rand_score(truth, sklearn_labels) == pytest.approx(1.0)
    assert adjusted_rand_score(truth, labels) == pytest.approx(1.0)
    np.testing.assert_array_equal(weights, 1.0)
    centres = INIT_STRATEGIES.get("spectral")(InitConfig(k=K_NEIGHBOURS, kmeans_restarts=3)).centres(features, 2, 0)
    means = np.stack([features[labels == j].astype(np.float64).mean(0) for j in range(2)])
    np.testing.assert_allclose(centres, means, rtol=1e-6, atol=1e-6)


def test_spectral_dachi_weights_samples_by_density_in_the_embedding() -> None:
    features, truth = rings()
    config = InitConfig(alpha=3.0, k=K_NEIGHBOURS, kmeans_restarts=3)
    labels, weights = spectral_labels(features, 2, seed=0, restarts=3, k=K_NEIGHBOURS, alpha=3.0)
    assert adjusted_rand_score(truth, labels) == pytest.approx(1.0)
    embedding = spectral_embedding_of(features, 2, seed=0)
    d = reference_d(embedding, labels, K_NEIGHBOURS)
    for cluster in range(2):
        members = labels == cluster
        direct = np.exp(3.0 * d[members])
        np.testing.assert_allclose(weights[members], direct / direct.max(), rtol=1e-4)
    centres = INIT_STRATEGIES.get("spectral+dachi")(config).centres(features, 2, 0)
    np.testing.assert_allclose(centres, reference_prototypes(features, labels, d, 3.0, 2), rtol=1e-4, atol=1e-4)


def test_spectral_dachi_with_alpha_zero_is_spectral() -> None:
    features, _ = rings()
    config = InitConfig(alpha=0.0, k=K_NEIGHBOURS, kmeans_restarts=2)
    spectral = INIT_STRATEGIES.get("spectral")(config).centres(features, 3, seed=5)
    np.testing.assert_array_equal(INIT_STRATEGIES.get("spectral+dachi")(config).centres(features, 3, seed=5), spectral)


@pytest.mark.parametrize("name", INIT_STRATEGIES.names())
def test_every_init_strategy_gives_finite_seeded_centres_or_none(name: str) -> None:
    features, _ = clustered_data(6)
    initializer = INIT_STRATEGIES.get(name)(InitConfig(strategy=name, k=K_NEIGHBOURS, kmeans_restarts=2))
    centres = initializer.centres(features, 4, seed=1)
    if centres is None:
        return
    assert centres.shape == (4, features.shape[1]) and centres.dtype == np.float32
    assert np.isfinite(centres).all()
    np.testing.assert_array_equal(centres, initializer.centres(features, 4, seed=1))
    lower, upper = features.min(axis=0), features.max(axis=0)  # weighted means lie in the data's box
    assert ((centres >= lower - 1e-3) & (centres <= upper + 1e-3)).all()
    with pytest.raises(DataError, match="n_samples=3 should be >= n_clusters=4"):
        initializer.centres(features[:3], 4, seed=1)
    with pytest.raises(DataError, match="NaN"):
        initializer.centres(np.full((10, 2), np.nan, dtype=np.float32), 4, seed=1)


def test_random_strategy_keeps_the_method_default() -> None:
    assert INIT_STRATEGIES.get("random")(InitConfig()).centres(np.ones((8, 2)), 2, seed=0) is None


class RecordingDachi(INIT_STRATEGIES.get("dachi")):
    """DACHI that remembers, per call, the rows it clustered, their labels, its density weights and centres."""

    def __init__(self, config: InitConfig) -> None:
        super().__init__(config)
        self.calls: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def centres(self, features, n_centres, seed):
        centres = super().centres(features, n_centres, seed)
        self.calls.append((np.array(features, dtype=np.float64), *self.labelled, centres))
        return centres

    def labels_and_weights(self, features, n_centres, seed):
        self.labelled = super().labels_and_weights(features, n_centres, seed)
        return self.labelled


def unit_rows(x: np.ndarray) -> np.ndarray:
    """method.md's head-input space: each row standardised (mean 0, std 1), then L2-normalised."""
    standard = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    return standard / np.linalg.norm(standard, axis=1, keepdims=True)


def batch_norm(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5)


def linear(layer, x: np.ndarray) -> np.ndarray:
    return x @ layer.weight.detach().double().numpy().T + layer.bias.detach().double().numpy()


# Each method's head-input rows, computed directly from the freshly built head and the features (plus, for CDC's
# second layer, the first layer's plain centres): one list entry per initializer call.
HEAD_INPUTS = {
    "scan": lambda method, z, calls: [unit_rows(z)],
    "cc": lambda method, z, calls: [unit_rows(np.maximum(linear(method.cluster_head[0], z), 0))],
    "tcl": lambda method, z, calls: [
        unit_rows(np.maximum(batch_norm(linear(method.cluster_head[2], np.maximum(batch_norm(z), 0))), 0))
    ],
    "cdc": lambda method, z, calls: [
        unit_rows(z), unit_rows(np.maximum(batch_norm(z @ calls[0][3].astype(np.float64).T), 0))
    ],
}


def test_every_method_is_covered_by_the_head_input_check() -> None:
    from trainables.methods import METHODS

    assert set(HEAD_INPUTS) == set(METHODS.names())


@pytest.mark.parametrize("method_name", sorted(HEAD_INPUTS))
def test_each_method_weights_samples_by_exp_alpha_d_in_its_head_input_space(method_name: str) -> None:
    import torch
    from torch import nn

    from trainables.config import TrialConfig
    from trainables.methods import METHODS

    alpha, n_clusters, dim = 2.0, 3, 8
    small = {"scan": {}, "cc": {"hidden_dim": 16}, "tcl": {"hidden_dim": 16}, "cdc": {"hidden_dim": 6, "orth_steps": 0}}
    config = TrialConfig.model_validate({
        "method": {"name": method_name, "params": small[method_name]},
        "init": {"strategy": "dachi", "alpha": alpha, "k": K_NEIGHBOURS, "kmeans_restarts": 1},
    })
    torch.manual_seed(0)
    method = METHODS.get(method_name).build(config, nn.Identity(), n_clusters, dim)
    rng = np.random.default_rng(7)
    features = (rng.normal(scale=3.0, size=(n_clusters, dim))[np.repeat(np.arange(3), 20)]
                + rng.gamma(2.0, size=(60, dim)) + 5.0)  # raw scale and offset, as ReLU features have
    initializer = RecordingDachi(config.init)
    method.init_head(features.astype(np.float32), initializer, seed=method.config.train.seed)

    expected_rows = HEAD_INPUTS[method_name](method, features, initializer.calls)
    assert len(initializer.calls) == len(expected_rows)
    for (rows, labels, weights, _), direct_rows in zip(initializer.calls, expected_rows):
        np.testing.assert_allclose(rows, direct_rows, atol=1e-4)
        assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)  # unit sphere: d_i lies in [0, 2]
        d = reference_d(direct_rows, labels, K_NEIGHBOURS)
        for cluster in np.unique(labels):
            members = labels == cluster
            direct = np.exp(alpha * d[members])
            np.testing.assert_allclose(weights[members], direct / direct.max(), rtol=1e-3)
