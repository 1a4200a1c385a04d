"""Metrics against independent computations: brute-force permutations, scikit-learn and a direct ECE loop."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from trainables.errors import ConfigError
from trainables.metrics import (
    accuracy_by_region,
    ari,
    cluster_accuracy,
    evaluate,
    expected_calibration_error,
    hungarian_mapping,
    nmi,
)


def brute_force_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Best one-to-one cluster -> class assignment by trying every injective map (clusters beyond C stay wrong)."""
    clusters = int(y_pred.max()) + 1
    classes = int(y_true.max()) + 1
    best = 0
    slots = list(range(classes)) + [-1] * max(0, clusters - classes)
    for assignment in set(itertools.permutations(slots, clusters)):
        mapped = np.array(assignment)[y_pred]
        best = max(best, int(np.sum(mapped == y_true)))
    return best / y_true.size


@pytest.mark.parametrize("clusters,classes", [(3, 3), (4, 4), (5, 3), (3, 5), (2, 4)])
@pytest.mark.parametrize("seed", range(4))
def test_accuracy_matches_brute_force(clusters: int, classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, classes, size=40)
    y_pred = rng.integers(0, clusters, size=40)
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(brute_force_accuracy(y_true, y_pred))


def test_accuracy_of_relabelled_partition_is_one() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 6, size=100)
    permutation = rng.permutation(6)
    assert cluster_accuracy(y_true, permutation[y_true]) == 1.0


def test_mapping_is_one_to_one_and_leaves_extra_clusters_unmapped() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 0])
    y_pred = np.array([2, 2, 0, 0, 1, 1])
    mapping = hungarian_mapping(y_true, y_pred)
    assert len(mapping) == 2 and len(set(mapping.values())) == 2
    assert mapping == {2: 0, 0: 1}
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(4 / 6)


@pytest.mark.parametrize("seed", range(5))
def test_nmi_and_ari_agree_with_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, size=200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 7, size=200))
    assert nmi(y_true, y_pred) == pytest.approx(normalized_mutual_info_score(y_true, y_pred))
    assert ari(y_true, y_pred) == pytest.approx(adjusted_rand_score(y_true, y_pred))


@pytest.mark.parametrize(
    "y_true,y_pred",
    [
        ([0, 0, 0, 0], [0, 0, 0, 0]),  # one group each: a perfect match
        ([0, 0, 0, 0], [0, 1, 2, 3]),  # one class, every sample its own cluster
        ([0, 1, 2, 3], [0, 1, 2, 3]),
        ([0, 0, 1, 1], [5, 5, 2, 2]),  # relabelled, with cluster ids no sample uses
        ([1, 1, 3, 3, 3], [0, 1, 0, 1, 0]),  # independent-looking partitions
        ([0], [0]),
        ([0, 1], [0, 0]),
    ],
)
def test_nmi_and_ari_agree_with_sklearn_on_degenerate_partitions(y_true: list[int], y_pred: list[int]) -> None:
    y_true, y_pred = np.array(y_true), np.array(y_pred)
    assert nmi(y_true, y_pred) == pytest.approx(normalized_mutual_info_score(y_true, y_pred), abs=1e-12)
    assert ari(y_true, y_pred) == pytest.approx(adjusted_rand_score(y_true, y_pred), abs=1e-12)


def direct_ece(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """Loop over samples, put each in bin (lo, hi] of width 1/bins, after mapping clusters by brute force."""
    y_pred = probs.argmax(1)
    clusters, classes = probs.shape[1], int(y_true.max()) + 1
    slots = list(range(classes)) + [-1] * max(0, clusters - classes)
    best = max(set(itertools.permutations(slots, clusters)),
               key=lambda a: int(np.sum(np.array(a)[y_pred] == y_true)))
    totals = [[0, 0.0, 0.0] for _ in range(bins)]
    for row, label, cluster in zip(probs, y_true, y_pred):
        confidence = row.max()
        index = next(b for b in range(bins) if confidence <= (b + 1) / bins + 1e-12)
        totals[index][0] += 1
        totals[index][1] += float(best[cluster] == label)
        totals[index][2] += confidence
    return sum(n / len(y_true) * abs(hits / n - conf / n) for n, hits, conf in totals if n)


@pytest.mark.parametrize("seed", range(4))
def test_ece_matches_direct_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(300, 4)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y_true = np.where(rng.random(300) < 0.5, (probs.argmax(1) + 1) % 4, rng.integers(0, 4, 300))
    assert expected_calibration_error(probs, y_true) == pytest.approx(direct_ece(probs, y_true))


def test_region_accuracy_uses_the_global_mapping() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 3, size=90)
    y_pred = np.where(rng.random(90) < 0.7, (y_true + 1) % 3, rng.integers(0, 3, 90))
    regions = np.array(["high", "mid", "low"])[rng.integers(0, 3, 90)]
    best = max(itertools.permutations(range(3)), key=lambda p: int(np.sum(np.array(p)[y_pred] == y_true)))
    correct = np.array(best)[y_pred] == y_true
    result = accuracy_by_region(y_true, y_pred, regions)
    for name in ("high", "mid", "low"):
        assert result[name] == pytest.approx(correct[regions == name].mean())


def test_evaluate_returns_every_metric_in_unit_interval() -> None:
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(3), size=60)
    y_true = rng.integers(0, 3, size=60)
    regions = np.array(["high", "mid", "low"] * 20)
    metrics = evaluate(y_true, probs, regions)
    assert set(metrics) == {"acc", "nmi", "ari", "ece", "acc_high", "acc_mid", "acc_low"}
    assert metrics["acc"] == pytest.approx(brute_force_accuracy(y_true, probs.argmax(1)))
    assert all(-1 <= value <= 1 for value in metrics.values())


def test_bad_input_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="equal length"):
        cluster_accuracy(np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(ConfigError, match="integer labels"):
        nmi(np.array([0.5, 1.0]), np.array([0, 1]))
    with pytest.raises(ConfigError, match="shape"):
        evaluate(np.array([0, 1]), np.ones((3, 2)))
