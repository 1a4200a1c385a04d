"""The ClusteringMethod contract, checked for every registered method under every init strategy."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from trainables.config import TrialConfig
from trainables.methods import METHODS
from trainables.methods.base import Batch, ClusteringMethod, StepOutput
from trainables.plugins import INIT_STRATEGIES

N, K, FEATURES = 48, 3, 8
VIEWS = ("val", "weak", "strong")

# Smaller heads and fewer init steps keep the test fast; methods not named here use their defaults.
FAST_PARAMS: dict[str, dict[str, Any]] = {
    "cdc": {"hidden_dim": 16, "orth_steps": 20, "top_m": 8, "mini_clusters": 5},
    "cc": {"hidden_dim": 16, "instance_dim": 8},
}


def tiny_encoder() -> nn.Module:
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, FEATURES), nn.ReLU())
    encoder.feature_dim = FEATURES
    return encoder


def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(K, 3, 4, 4, generator=g) * 2
    return centres.repeat(N // K, 1, 1, 1) + 0.3 * torch.randn(N, 3, 4, 4, generator=g)


def view_of(data: torch.Tensor, view: str, indices: torch.Tensor) -> torch.Tensor:
    """Deterministic stand-ins for the three views: val is the image, weak/strong are perturbed."""
    noise = {"val": 0.0, "weak": 0.05, "strong": 0.2}[view]
    return data[indices] + noise * torch.randn(len(indices), *data.shape[1:])


def built_method(method_name: str, strategy: str) -> tuple[ClusteringMethod, torch.Tensor]:
    torch.manual_seed(0)
    config = TrialConfig.model_validate(
        {
            "method": {"name": method_name, "params": FAST_PARAMS.get(method_name, {})},
            "init": {"strategy": strategy, "kmeans_restarts": 1, "k": 5},
        }
    )
    encoder = tiny_encoder()
    method = METHODS.get(method_name).build(config, encoder, K, FEATURES)
    data = images()
    with torch.no_grad():
        features = encoder(data).numpy()
    method.prepare(features)
    method.attach_view_source(lambda indices, view: view_of(data, view, indices))
    method.init_head(features, INIT_STRATEGIES.get(strategy)(config.init), seed=method.config.train.seed)
    return method, data


def assert_distributions(probs: torch.Tensor, batch_size: int) -> None:
    assert probs.shape == (batch_size, K)
    assert torch.all(probs >= 0)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(batch_size, dtype=probs.dtype))


@pytest.mark.parametrize("strategy", INIT_STRATEGIES.names())
@pytest.mark.parametrize("method_name", METHODS.names())
def test_method_contract(method_name: str, strategy: str) -> None:
    method, data = built_method(method_name, strategy)
    index = torch.arange(0, N, 2)
    batch = Batch(views={v: view_of(data, v, index) for v in VIEWS}, index=index, label=index % K)

    method.train()
    before = [p.detach().clone() for p in method.head_parameters()]
    out = method.train_step(batch)
    assert isinstance(out, StepOutput)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert out.sample_loss.shape == (len(index),) and torch.isfinite(out.sample_loss).all()
    assert out.sample_loss.requires_grad  # fit_batch back-propagates a weighted mean of it (InfoBatch)

    optimiser = torch.optim.SGD([g for group in method.param_groups() for g in group["params"]], lr=0.1)
    out.loss.backward()
    optimiser.step()
    assert any(not torch.equal(p.detach(), b) for p, b in zip(method.head_parameters(), before))

    before = [p.detach().clone() for p in method.head_parameters()]
    fitted = method.fit_batch(batch, method.configure_optimizers())
    assert torch.isfinite(fitted.loss) and fitted.sample_loss.shape == (len(index),)
    assert any(not torch.equal(p.detach(), b) for p, b in zip(method.head_parameters(), before))
    optimisers = method.configure_optimizers()
    covered = {id(p) for optimiser in optimisers for group in optimiser.param_groups for p in group["params"]}
    assert {id(p) for p in method.head_parameters()} <= covered

    method.eval()
    with torch.no_grad():  # as the engine's evaluation pass
        probs = method.predict(batch)
    assert_distributions(probs, len(index))
    assert set(method.train_views) <= set(VIEWS)
