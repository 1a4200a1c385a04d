"""Head initialisation strategies a sweep chooses by name (method.md, DACHI).

``random`` keeps the method's own initialisation; ``prototype`` gives CDC's plain K-means means;
``dachi`` the density-weighted means of Eq. 1-2; ``spectral`` and ``spectral+dachi`` the same two
with spectral clustering in place of K-means (for non-convex data such as COIL-20).
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from trainables.errors import DataError
from trainables.neighbours import kmeans
from trainables.plugins import INIT_STRATEGIES
from trainables.plugins.base import HeadInitializer
from trainables.plugins.prototypes import density_weights, weighted_prototypes
from trainables.plugins.spectral import spectral_labels


@INIT_STRATEGIES.register("random")
class RandomInit(HeadInitializer):
    """The method's own default initialisation: no centres."""

    def centres(self, features: np.ndarray, n_centres: int, seed: int) -> None:
        return None


class ClusteringInit(HeadInitializer):
    """Centres = weighted means of the features under cluster labels; subclasses choose both.

    ``centres`` checks its input once, then delegates to ``labels_and_weights``.
    """

    def centres(self, features: np.ndarray, n_centres: int, seed: int) -> np.ndarray:
        """[n_centres, D] float32 centres of the [N, D] ``features``.

        Raises:
            DataError: if features are not a finite 2-D array with at least ``n_centres`` rows.
        """
        features = _checked_features(features, n_centres)
        labels, weights = self.labels_and_weights(features, n_centres, seed)
        return weighted_prototypes(features, labels, weights, n_centres)

    @abstractmethod
    def labels_and_weights(
        self, features: np.ndarray, n_centres: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """[N] cluster labels in [0, n_centres) and [N] non-negative weights (max 1 in each cluster)."""


@INIT_STRATEGIES.register("prototype")
class PrototypeInit(ClusteringInit):
    """Plain means of seeded K-means clusters (CDC's scheme); equals ``dachi`` with alpha = 0."""

    def labels_and_weights(self, features, n_centres, seed):
        _, labels = kmeans(features, n_centres, seed, self.config.kmeans_restarts)
        return labels, np.ones(features.shape[0])


@INIT_STRATEGIES.register("dachi")
class DachiInit(ClusteringInit):
    """K-means labels, then density-weighted means: c_j = sum w_i z_i / sum w_i, w_i = exp(alpha d_i)."""

    def labels_and_weights(self, features, n_centres, seed):
        _, labels = kmeans(features, n_centres, seed, self.config.kmeans_restarts)
        _, weights = density_weights(features, labels, self.config.k, self.config.alpha)
        return labels, weights


@INIT_STRATEGIES.register("spectral")
class SpectralInit(ClusteringInit):
    """Plain feature means of spectral clusters: ``spectral+dachi`` with alpha = 0."""

    uses_density = False

    def labels_and_weights(self, features, n_centres, seed):
        alpha = self.config.alpha if self.uses_density else 0.0
        return spectral_labels(
            features, n_centres, seed, self.config.kmeans_restarts, self.config.k, alpha
        )


@INIT_STRATEGIES.register("spectral+dachi")
class SpectralDachiInit(SpectralInit):
    """Spectral clustering with a density-weighted final K-means step in the spectral embedding.

    The labels come from that weighted step (see ``spectral_labels``). The feature-space centre of
    cluster j is the weighted mean of its members' features, c_j = sum w_i z_i / sum w_i, with the
    same embedding-space weights w_i that moved the embedding centre: the same weighted sample set,
    seen in the space the head lives in.
    """

    uses_density = True


def _checked_features(features: np.ndarray, n_centres: int) -> np.ndarray:
    """``features`` as a float array, after checking shape, finiteness and size."""
    features = np.asarray(features)
    if features.ndim != 2:
        raise DataError(
            f"head initialisation needs [N, D] features, but got shape {features.shape}; "
            "flatten the encoder output per sample"
        )
    if features.shape[0] < n_centres:
        raise DataError(
            f"n_samples={features.shape[0]} should be >= n_clusters={n_centres} to initialise "
            "the head from clusters; use more samples or init.strategy=random"
        )
    if not np.isfinite(features).all():
        raise DataError(
            "features contain NaN or infinite values; check the encoder checkpoint and the "
            "input normalisation"
        )
    return features
