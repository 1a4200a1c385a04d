"""Spectral clustering whose final K-means step can be density-weighted (method.md, DACHI step 2).

scikit-learn's ``SpectralClustering`` does not expose its embedding, so its three steps are run here
with the same building blocks and defaults (nearest-neighbours connectivity including self,
symmetrised; ``spectral_embedding`` without dropping the first vector; k-means++ in the embedding),
with the neighbour graph built by faiss.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from trainables.neighbours import kmeans, knn
from trainables.plugins.prototypes import density_weights, weighted_prototypes

AFFINITY_NEIGHBOURS = 10  # scikit-learn SpectralClustering's default n_neighbors


def spectral_embedding_of(features: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """[N, n_components] spectral embedding of the symmetrised k-NN connectivity graph of ``features``."""
    from sklearn.manifold import spectral_embedding  # seconds to import; only this strategy needs it

    n = features.shape[0]
    _, neighbours = knn(features, AFFINITY_NEIGHBOURS - 1)  # -1: the point itself is included below
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    connectivity = sparse.csr_matrix(
        (np.ones(rows.size), (rows, neighbours.ravel())), shape=(n, n)
    ) + sparse.identity(n, format="csr")
    affinity = 0.5 * (connectivity + connectivity.T)
    return spectral_embedding(
        affinity, n_components=n_components, random_state=seed, drop_first=False
    )


def spectral_labels(
    features: np.ndarray, n_clusters: int, seed: int, restarts: int, k: int, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Spectral cluster labels and the density weights that go with them.

    Steps: embed the features (``spectral_embedding_of``); run seeded k-means++ in the
    embedding; then replace the plain centres of that final K-means step by density-weighted
    ones, computed in the embedding space (``density_weights`` with ``k`` and ``alpha``), and
    reassign each sample to its nearest weighted centre. If that reassignment would empty a
    cluster, the k-means labels are kept. The returned weights are the embedding-space density
    weights of the final labels. With alpha = 0 the weights are 1 and the centres the plain means.

    Returns:
        ``(labels, weights)``: [N] int64 and [N] float64.
    """
    embedding = spectral_embedding_of(features, n_clusters, seed)
    _, labels = kmeans(embedding, n_clusters, seed, restarts)
    _, weights = density_weights(embedding, labels, k, alpha)
    centres = weighted_prototypes(embedding, labels, weights, n_clusters).astype(np.float64)
    reassigned = _nearest_centre(embedding, centres)
    if np.unique(reassigned).size == n_clusters:
        labels = reassigned
    _, weights = density_weights(embedding, labels, k, alpha)
    return labels, weights


def _nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """[N] index of the nearest of the [K, D] centres for each of the [N, D] points."""
    squared = (centres**2).sum(axis=1)[None, :] - 2.0 * points @ centres.T
    return squared.argmin(axis=1).astype(np.int64)
