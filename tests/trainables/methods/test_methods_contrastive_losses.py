"""CC / TCL losses against plain-loop NumPy references and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from trainables.methods.contrastive import (
    balanced_cross_entropy,
    cluster_contrastive_loss,
    confident_pseudo_labels,
    negative_entropy,
    nt_xent,
)


def reference_nt_xent(a: np.ndarray, b: np.ndarray, tau: float, removed=None) -> tuple[float, np.ndarray]:
    """Loop over the 2n anchors; ``removed[i][j]`` drops items j and j+n from anchor i's (and i+n's) negatives."""
    n = len(a)
    items = np.concatenate([a, b])
    items = items / np.linalg.norm(items, axis=1, keepdims=True)
    anchor_losses = []
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        denominator = 0.0
        for j in range(2 * n):
            if j == i:
                continue
            if removed is not None and j != positive and removed[i % n][j % n]:
                continue
            denominator += math.exp(items[i] @ items[j] / tau)
        anchor_losses.append(-math.log(math.exp(items[i] @ items[positive] / tau) / denominator))
    anchor_losses = np.array(anchor_losses)
    return anchor_losses.mean(), (anchor_losses[:n] + anchor_losses[n:]) / 2


def reference_negative_entropy(probs: np.ndarray) -> float:
    mean = probs.sum(axis=0) / probs.sum()
    return math.log(probs.shape[1]) + sum(m * math.log(m) for m in mean)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("n", "d", "tau"), [(2, 3, 0.5), (7, 5, 0.5), (5, 16, 1.3)])
def test_nt_xent_matches_loop_reference(n, d, tau):
    rng = np.random.default_rng(n * d)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    loss, item_loss = nt_xent(torch.tensor(a), torch.tensor(b), tau)
    expected, expected_items = reference_nt_xent(a, b, tau)
    assert float(loss) == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(item_loss.numpy(), expected_items, rtol=1e-9)
    assert float(item_loss.mean()) == pytest.approx(float(loss), rel=1e-9)


def test_nt_xent_pair_mask_removes_only_negatives():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    labels = np.array([0, 1, 0, -1, 1, 0])
    removed = (labels[:, None] == labels[None, :]) & (labels[None, :] >= 0)
    loss, item_loss = nt_xent(torch.tensor(a), torch.tensor(b), 0.5, pair_mask=torch.tensor(removed))
    expected, expected_items = reference_nt_xent(a, b, 0.5, removed=removed)
    assert float(loss) == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(item_loss.numpy(), expected_items, rtol=1e-9)
    assert float(loss) < reference_nt_xent(a, b, 0.5)[0]


@pytest.mark.parametrize(("batch", "k", "tau", "weight"), [(8, 3, 1.0, 1.0), (5, 4, 0.7, 0.5), (16, 10, 1.0, 0.0)])
def test_cluster_contrastive_loss_matches_loop_reference(batch, k, tau, weight):
    rng = np.random.default_rng(batch + k)
    pa, pb = softmax(rng.normal(size=(batch, k)) * 2), softmax(rng.normal(size=(batch, k)) * 2)
    loss = cluster_contrastive_loss(torch.tensor(pa), torch.tensor(pb), tau, weight)
    contrast, _ = reference_nt_xent(pa.T, pb.T, tau)
    expected = contrast + weight * (reference_negative_entropy(pa) + reference_negative_entropy(pb))
    assert float(loss) == pytest.approx(expected, rel=1e-9)


def test_negative_entropy_is_zero_for_uniform_and_log_k_for_collapse():
    uniform = torch.full((6, 4), 0.25, dtype=torch.float64)
    collapsed = torch.zeros(6, 4, dtype=torch.float64)
    collapsed[:, 2] = 1.0
    assert float(negative_entropy(uniform)) == pytest.approx(0.0, abs=1e-12)
    assert float(negative_entropy(collapsed)) == pytest.approx(math.log(4), rel=1e-6)


def test_confident_pseudo_labels_match_brute_force():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(60, 3)) * 6
    probs = softmax(logits)
    threshold, per_cluster = 0.9, 4
    labels = confident_pseudo_labels(torch.tensor(probs), threshold, per_cluster).numpy()
    expected = np.full(60, -1)
    for k in range(3):
        members = [i for i in range(60) if probs[i].argmax() == k and probs[i].max() >= threshold]
        for i in sorted(members, key=lambda i: -probs[i].max())[:per_cluster]:
            expected[i] = k
    np.testing.assert_array_equal(labels, expected)
    assert (labels >= 0).sum() > 0


def test_balanced_cross_entropy_matches_weighted_sklearn_log_loss():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(10, 3))
    labels = np.array([0, 0, 0, 1, -1, 2, 2, -1, 0, 1])
    loss, sample_loss = balanced_cross_entropy(torch.tensor(logits), torch.tensor(labels))
    kept = labels >= 0
    counts = np.bincount(labels[kept], minlength=3)
    weights = 1.0 / counts[labels[kept]]
    expected = log_loss(labels[kept], softmax(logits)[kept], sample_weight=weights, labels=[0, 1, 2])
    assert float(loss) == pytest.approx(expected, rel=1e-9)
    assert float(sample_loss.mean()) == pytest.approx(expected, rel=1e-9)
    assert np.all(sample_loss.numpy()[~kept] == 0)


def test_balanced_cross_entropy_without_labels_is_zero_and_attached():
    logits = torch.randn(4, 3, requires_grad=True)
    loss, sample_loss = balanced_cross_entropy(logits, torch.full((4,), -1))
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.all(sample_loss == 0)
    assert torch.all(logits.grad == 0)
