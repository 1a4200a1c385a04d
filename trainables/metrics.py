"""Clustering metrics of method.md: ACC (Hungarian), NMI, ARI, ECE and ACC by density region.

Every value is a fraction in [0, 1] (ARI in [-1, 1]); tables multiply by 100. NMI and ARI follow scikit-learn's
definitions, computed here from the contingency matrix: every trial process imports this module, and
``sklearn.metrics`` would add about half a second to each one's start.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from trainables.errors import ConfigError

ECE_BINS = 15
REGIONS = ("high", "mid", "low")


def _as_labels(values: np.ndarray, name: str) -> np.ndarray:
    labels = np.asarray(values)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"{name} must be a 1-D array of integer labels, but got shape {labels.shape} "
                          f"and dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ConfigError(f"{name} must hold non-negative labels, but its minimum is {labels.min()}")
    return labels.astype(np.int64)


def _check_pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ConfigError(f"y_true and y_pred must be non-empty and of equal length, but got {y_true.size} "
                          f"and {y_pred.size}")
    return y_true, y_pred


def contingency(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """[K, C] int64 counts of samples in cluster k and class c (K = max cluster id + 1, C = max class + 1).

    Raises:
        ConfigError: the labels are not 1-D non-negative integers of one non-zero length.
    """
    return _contingency(*_check_pair(y_true, y_pred))


def _contingency(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """[K, C] int64 counts of samples in cluster k and class c, for checked labels (K = max cluster id + 1)."""
    contingency = np.zeros((y_pred.max() + 1, y_true.max() + 1), dtype=np.int64)
    np.add.at(contingency, (y_pred, y_true), 1)
    return contingency


def hungarian_mapping(y_true: np.ndarray, y_pred: np.ndarray) -> dict[int, int]:
    """The one-to-one cluster -> class mapping that maximises the number of matches.

    Built on the K x C contingency matrix with ``scipy.optimize.linear_sum_assignment``; when K > C some clusters
    stay unmapped (absent from the dict), and their predictions count as wrong.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    clusters, classes = linear_sum_assignment(_contingency(y_true, y_pred), maximize=True)
    return {int(k): int(c) for k, c in zip(clusters, classes)}


def map_predictions(y_pred: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Replace each cluster id by its mapped class; unmapped clusters become -1 (never equal to a class)."""
    lookup = np.full(int(np.max(y_pred)) + 1, -1, dtype=np.int64)
    for cluster, cls in mapping.items():
        if cluster < lookup.size:
            lookup[cluster] = cls
    return lookup[np.asarray(y_pred, dtype=np.int64)]


def cluster_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """ACC: the fraction of samples whose Hungarian-mapped cluster equals their class."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(map_predictions(y_pred, hungarian_mapping(y_true, y_pred)) == y_true))


def _entropy(counts: np.ndarray) -> float:
    """Shannon entropy (nats) of the distribution given by non-negative ``counts``."""
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def nmi(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Normalised mutual information, I(Y; C) / ((H(Y) + H(C)) / 2) (scikit-learn's arithmetic normalisation).

    Two partitions that both put every sample in one group score 1; otherwise I = 0 scores 0.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    joint = _contingency(y_true, y_pred)
    joint = joint[joint.sum(axis=1) > 0][:, joint.sum(axis=0) > 0]  # drop ids no sample uses
    if joint.shape == (1, 1):
        return 1.0
    h_pred, h_true = _entropy(joint.sum(axis=1)), _entropy(joint.sum(axis=0))
    mutual_information = max(h_pred + h_true - _entropy(joint.ravel()), 0.0)
    if mutual_information == 0.0:
        return 0.0
    return mutual_information / ((h_pred + h_true) / 2)


def ari(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Adjusted Rand index, scikit-learn's pair-counting form, in exact integers.

    Over the N (N - 1) ordered pairs of samples: ``together`` share a cluster and a class, ``split_pred`` share a
    cluster only, ``split_true`` a class only, ``apart`` neither. Partitions that pair every sample alike score 1.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    joint = _contingency(y_true, y_pred)
    n = int(y_true.size)
    squares = int((joint**2).sum())
    together = squares - n
    split_pred = int((joint.sum(axis=1) ** 2).sum()) - squares
    split_true = int((joint.sum(axis=0) ** 2).sum()) - squares
    apart = n * (n - 1) - together - split_pred - split_true
    if split_pred == 0 and split_true == 0:
        return 1.0
    numerator = 2 * (together * apart - split_true * split_pred)
    return numerator / ((together + split_pred) * (split_pred + apart) + (together + split_true) * (split_true + apart))


def _check_probs(probs: np.ndarray, n: int) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] != n or probs.shape[1] == 0:
        raise ConfigError(f"probs must have shape [N={n}, K], but got {probs.shape}")
    if not np.all(np.isfinite(probs)):
        raise ConfigError("probs holds NaN or infinite values; check the model output for divergence")
    return probs


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, num_bins: int = ECE_BINS) -> float:
    """ECE over ``num_bins`` equal-width confidence bins of the Hungarian-mapped predictions.

    Args:
        probs: [N, K] predicted cluster distributions; confidence = max, prediction = argmax.
        y_true: [N] class labels.

    Returns:
        sum_b |B_b| / N * |acc(B_b) - conf(B_b)|; bins are (lo, hi], the first also holds confidence 0.
    """
    y_true = _as_labels(y_true, "y_true")
    probs = _check_probs(probs, y_true.size)
    y_pred = probs.argmax(axis=1)
    correct = map_predictions(y_pred, hungarian_mapping(y_true, y_pred)) == y_true
    confidence = probs.max(axis=1)
    bins = np.clip(np.ceil(confidence * num_bins).astype(np.int64) - 1, 0, num_bins - 1)
    ece = 0.0
    for b in range(num_bins):
        members = bins == b
        if members.any():
            ece += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(ece)


def accuracy_by_region(y_true: np.ndarray, y_pred: np.ndarray, regions: np.ndarray) -> dict[str, float]:
    """ACC inside each density region ("high", "mid", "low") under the single global Hungarian mapping.

    Args:
        regions: [N] strings from ``REGIONS``; a region with no member gets NaN.
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    regions = np.asarray(regions)
    if regions.shape != y_true.shape:
        raise ConfigError(f"regions must have one entry per sample ({y_true.size}), but got shape {regions.shape}")
    unknown = set(np.unique(regions).tolist()) - set(REGIONS)
    if unknown:
        raise ConfigError(f"regions holds unknown names {sorted(unknown)}; use only {list(REGIONS)}")
    correct = map_predictions(y_pred, hungarian_mapping(y_true, y_pred)) == y_true
    return {name: float(correct[regions == name].mean()) if (regions == name).any() else float("nan")
            for name in REGIONS}


def evaluate(y_true: np.ndarray, probs: np.ndarray, regions: np.ndarray | None = None) -> dict[str, float]:
    """All per-epoch metrics from predicted distributions: acc, nmi, ari, ece and, with regions, acc_<region>."""
    y_true = _as_labels(y_true, "y_true")
    probs = _check_probs(probs, y_true.size)
    y_pred = probs.argmax(axis=1)
    metrics = {
        "acc": cluster_accuracy(y_true, y_pred),
        "nmi": nmi(y_true, y_pred),
        "ari": ari(y_true, y_pred),
        "ece": expected_calibration_error(probs, y_true),
    }
    if regions is not None:
        metrics.update({f"acc_{name}": value for name, value in accuracy_by_region(y_true, y_pred, regions).items()})
    return metrics
