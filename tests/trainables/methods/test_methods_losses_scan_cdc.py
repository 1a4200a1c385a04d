"""SCAN and CDC losses against direct NumPy computations on fixed random tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trainables.methods.losses import (
    cdc_calibration_loss,
    cdc_clustering_loss,
    cdc_select,
    group_mean_targets,
    scan_loss,
)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(("batch", "clusters", "weight"), [(7, 3, 5.0), (32, 10, 5.0), (5, 4, 0.0)])
def test_scan_loss_matches_direct_formula(batch: int, clusters: int, weight: float) -> None:
    rng = np.random.default_rng(batch)
    anchor, neighbour = rng.normal(size=(2, batch, clusters)) * 3
    p, q = softmax(anchor), softmax(neighbour)
    consistency = -np.log(np.maximum((p * q).sum(axis=1), 1e-8))
    mean_p = np.maximum(p.mean(axis=0), 1e-8)
    expected = consistency.mean() + weight * (mean_p * np.log(mean_p)).sum()

    loss, sample_loss = scan_loss(torch.tensor(anchor), torch.tensor(neighbour), weight)

    assert loss.item() == pytest.approx(expected, rel=1e-9)
    assert sample_loss.shape == (batch,)
    assert sample_loss.mean().item() == pytest.approx(expected, rel=1e-9)
    # The per-sample share orders samples by their own consistency when the entropy term is off.
    if weight == 0:
        np.testing.assert_allclose(sample_loss.numpy(), consistency, rtol=1e-9)


def test_scan_loss_clamps_disjoint_predictions() -> None:
    anchor = torch.tensor([[60.0, -60.0], [-60.0, 60.0]], requires_grad=True)
    neighbour = torch.tensor([[-60.0, 60.0], [60.0, -60.0]])
    loss, sample_loss = scan_loss(anchor, neighbour, entropy_weight=5.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(anchor.grad).all()
    assert sample_loss.max().item() < -np.log(1e-8) + 1e-3


def brute_force_select(probs: np.ndarray, top_m: int) -> tuple[np.ndarray, np.ndarray]:
    confidence = probs.max(axis=1)
    chosen: set[int] = set()
    for k in range(probs.shape[1]):
        order = sorted(range(len(probs)), key=lambda i: -probs[i, k])[:top_m]
        keep = int(np.floor(top_m * confidence[order].mean()))
        chosen.update(order[:keep])
    positions = np.array(sorted(chosen), dtype=np.int64)
    return positions, probs[positions].argmax(axis=1) if len(positions) else positions


@pytest.mark.parametrize(
    ("batch", "clusters", "top_m", "sharpness"), [(40, 4, 6, 3.0), (25, 5, 3, 1.0), (9, 3, 20, 4.0)]
)
def test_cdc_select_matches_brute_force(batch: int, clusters: int, top_m: int, sharpness: float) -> None:
    probs = softmax(np.random.default_rng(top_m).normal(size=(batch, clusters)) * sharpness)
    positions, labels = cdc_select(torch.tensor(probs), top_m)
    expected_positions, expected_labels = brute_force_select(probs, top_m)
    np.testing.assert_array_equal(positions.numpy(), expected_positions)
    np.testing.assert_array_equal(labels.numpy(), expected_labels)
    assert 0 < len(expected_positions) < batch or top_m > batch


def test_cdc_select_can_select_nothing() -> None:
    positions, labels = cdc_select(torch.full((8, 4), 0.25), top_m=3)  # floor(3 * 0.25) = 0
    assert positions.numel() == 0 and labels.numel() == 0


def test_cdc_clustering_loss_matches_cross_entropy_of_selected() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3))
    positions, labels = np.array([1, 4]), np.array([2, 0])
    log_p = np.log(softmax(logits))
    per_sample = -log_p[positions, labels]

    loss, sample_loss = cdc_clustering_loss(torch.tensor(logits), torch.tensor(positions), torch.tensor(labels))

    assert loss.item() == pytest.approx(per_sample.mean(), rel=1e-9)
    expected_share = np.zeros(6)
    expected_share[positions] = per_sample * 6 / len(positions)  # B / S: the shares average to the loss
    np.testing.assert_allclose(sample_loss.numpy(), expected_share, rtol=1e-9)


def test_cdc_clustering_loss_of_empty_selection_is_zero_and_differentiable() -> None:
    logits = torch.randn(5, 3, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    loss, sample_loss = cdc_clustering_loss(logits, empty, empty)
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(sample_loss, torch.zeros(5))
    assert torch.equal(logits.grad, torch.zeros(5, 3))


def test_group_mean_targets_average_within_groups_and_ignore_empty_ones() -> None:
    rng = np.random.default_rng(1)
    probs = softmax(rng.normal(size=(10, 4)))
    groups = np.array([0, 2, 2, 5, 0, 5, 5, 2, 0, 3])  # groups 1 and 4 are empty
    expected = np.stack([probs[groups == g].mean(axis=0) for g in groups])

    targets = group_mean_targets(torch.tensor(groups), torch.tensor(probs), num_groups=6)

    np.testing.assert_allclose(targets.numpy(), expected, rtol=1e-12)
    assert torch.isfinite(targets).all()


@pytest.mark.parametrize("weight", [1.0, 0.0, 2.5])
def test_cdc_calibration_loss_matches_direct_formula(weight: float) -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(12, 5)) * 2
    targets = softmax(rng.normal(size=(12, 5)))
    q = softmax(logits)
    mean_q = q.mean(axis=0)
    expected = (-(targets * np.log(q)).sum(axis=1)).mean() + weight * (mean_q * np.log(mean_q)).sum()

    loss, sample_loss = cdc_calibration_loss(torch.tensor(logits), torch.tensor(targets), weight)

    assert loss.item() == pytest.approx(expected, rel=1e-9)
    assert sample_loss.mean().item() == pytest.approx(expected, rel=1e-9)
