"""SCAN: neighbour mining, head initialisation and the training step, against direct computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from trainables.config import TrialConfig
from trainables.methods import METHODS
from trainables.methods.base import Batch
from trainables.plugins import INIT_STRATEGIES

N, D, K = 40, 6, 3


class FixedCentres:
    """A HeadInitializer stand-in returning given centres (or None, like ``random``)."""

    def __init__(self, centres: np.ndarray | None) -> None:
        self.given = centres

    def centres(self, features: np.ndarray, n_centres: int, seed: int) -> np.ndarray | None:
        return self.given


def build_scan(**params: object) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    config = TrialConfig.model_validate({"method": {"name": "scan", "params": params}})
    encoder = nn.Linear(D, D)
    images = torch.randn(N, D)
    return METHODS.get("scan").build(config, encoder, K, D), images


def test_prepare_mines_self_plus_nearest_by_cosine() -> None:
    scan, _ = build_scan(num_neighbors=5)
    features = np.random.default_rng(0).normal(size=(N, D)).astype(np.float32) * 4
    scan.prepare(features)

    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    expected = np.argsort(-similarity, axis=1)[:, :5]
    assert scan.neighbours.shape == (N, 6)
    np.testing.assert_array_equal(scan.neighbours[:, 0].numpy(), np.arange(N))
    np.testing.assert_array_equal(np.sort(scan.neighbours[:, 1:].numpy(), axis=1), np.sort(expected, axis=1))


def test_init_head_uses_normalised_centres_scaled_like_default_init() -> None:
    scan, _ = build_scan()
    centres = np.random.default_rng(1).normal(size=(K, D)).astype(np.float32) * 10
    scan.init_head(np.zeros((N, D), np.float32), FixedCentres(centres))

    expected = centres / np.linalg.norm(centres, axis=1, keepdims=True) / math.sqrt(3)
    np.testing.assert_allclose(scan.head.weight.detach().numpy(), expected, rtol=1e-6)
    assert torch.equal(scan.head.bias.detach(), torch.zeros(K))
    default_norms = nn.Linear(512, 64).weight.norm(dim=1)
    assert default_norms.mean().item() == pytest.approx(1 / math.sqrt(3), rel=0.05)


def test_random_init_keeps_default_weights() -> None:
    scan, _ = build_scan()
    before = {name: p.detach().clone() for name, p in scan.head.named_parameters()}
    scan.init_head(np.zeros((N, D), np.float32), FixedCentres(None))
    for name, param in scan.head.named_parameters():
        assert torch.equal(param.detach(), before[name])


def test_dachi_centres_land_in_the_head() -> None:
    scan, images = build_scan()
    features = np.concatenate([np.random.default_rng(2).normal(loc=5 * k, size=(N // 4, D)) for k in range(4)])
    features = features[:N].astype(np.float32)
    config = TrialConfig.model_validate({"init": {"strategy": "dachi", "kmeans_restarts": 1}})
    dachi = INIT_STRATEGIES.get("dachi")(config.init)
    scan.init_head(features, dachi)

    centres = dachi.centres(features, K, scan.config.train.seed)
    expected = centres / np.linalg.norm(centres, axis=1, keepdims=True) / math.sqrt(3)
    np.testing.assert_allclose(scan.head.weight.detach().numpy(), expected, rtol=1e-5)


def test_train_step_pairs_each_anchor_with_a_listed_neighbour_and_computes_scan_loss() -> None:
    scan, images = build_scan(num_neighbors=4, entropy_weight=5.0)
    scan.prepare(scan.encoder(images).detach().numpy())
    requested: list[tuple[torch.Tensor, str]] = []

    def view_source(indices: torch.Tensor, view: str) -> torch.Tensor:
        requested.append((indices.clone(), view))
        return images[indices] * 2.0  # the "strong view" of a sample

    scan.attach_view_source(view_source)
    index = torch.tensor([3, 17, 25, 8, 30])
    batch = Batch(views={"strong": images[index] * 2.0, "weak": images[index]}, index=index, label=index)
    torch.manual_seed(7)
    out = scan.train_step(batch)

    (neighbours, view), = requested
    assert view == "strong"
    for anchor, drawn in zip(index.tolist(), neighbours.tolist()):
        assert drawn in scan.neighbours[anchor].tolist()

    with torch.no_grad():
        weights, bias = scan.head.weight.numpy(), scan.head.bias.numpy()
        enc_w, enc_b = scan.encoder.weight.numpy(), scan.encoder.bias.numpy()
    logits = lambda x: (x.numpy() @ enc_w.T + enc_b) @ weights.T + bias  # noqa: E731
    softmax = lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # noqa: E731
    p = softmax(logits(images[index] * 2.0))
    q = softmax(logits(images[neighbours] * 2.0))
    mean_p = p.mean(axis=0)
    expected = -np.log((p * q).sum(axis=1)).mean() + 5.0 * (mean_p * np.log(mean_p)).sum()
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(out.p_strong.numpy(), p, rtol=1e-5)
    np.testing.assert_allclose(out.p_weak.numpy(), softmax(logits(images[index])), rtol=1e-5)


def test_neighbours_are_drawn_uniformly_from_the_list() -> None:
    scan, images = build_scan(num_neighbors=3)
    scan.prepare(np.random.default_rng(3).normal(size=(N, D)).astype(np.float32))
    torch.manual_seed(0)
    drawn = torch.stack([scan._draw_neighbours(torch.zeros(1000, dtype=torch.long)) for _ in range(4)]).flatten()
    counts = np.array([(drawn == j).sum().item() for j in scan.neighbours[0].tolist()])
    assert counts.sum() == 4000
    assert np.all(np.abs(counts / 4000 - 0.25) < 0.03)


def test_train_step_without_prepare_or_view_source_says_what_is_missing() -> None:
    scan, images = build_scan()
    batch = Batch(views={"strong": images[:4], "weak": images[:4]}, index=torch.arange(4), label=torch.arange(4))
    with pytest.raises(RuntimeError, match="prepare"):
        scan.train_step(batch)
    scan.prepare(images.numpy())
    with pytest.raises(RuntimeError, match="attach_view_source"):
        scan.train_step(batch)
