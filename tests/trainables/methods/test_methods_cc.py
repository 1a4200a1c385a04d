"""CC: heads, DACHI placement, training step and a toy optimisation, against direct computations."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trainables.validation import validate_trial_config
from trainables.errors import ConfigError
from trainables.methods.base import Batch
from trainables.methods.contrastive import cluster_contrastive_loss, nt_xent

_spec = importlib.util.spec_from_file_location("contrastive_toys", Path(__file__).with_name("contrastive_toys.py"))
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)
RecordingInit, blobs, unit_rows = toys.RecordingInit, toys.blobs, toys.unit_rows


def make_cc(**kwargs):
    return toys.make_method("cc", **kwargs)



def test_cc_heads_have_the_paper_shapes():
    method = make_cc(num_clusters=4, feature_dim=5)
    linears = [m for m in method.cluster_head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 512), (512, 4)]
    assert [type(m) for m in method.instance_head] == [nn.Linear, nn.ReLU, nn.Linear]
    assert method.instance_head[-1].out_features == 128


def test_init_head_places_normalised_centres_in_the_last_layer():
    method = make_cc(num_clusters=3, feature_dim=5, hidden_dim=8)
    features = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
    first, last = method.cluster_head[0], method.cluster_head[-1]
    original_norm = last.weight.detach().norm(dim=1).mean().item()
    centres = np.random.default_rng(1).normal(size=(3, 8))
    init = RecordingInit(centres)
    method.init_head(features, init, seed=method.config.train.seed)

    w1, b1 = first.weight.detach().numpy(), first.bias.detach().numpy()
    np.testing.assert_allclose(init.seen, unit_rows(np.maximum(features @ w1.T + b1, 0)), rtol=1e-4, atol=1e-5)
    assert init.seed == 0
    expected = centres / np.linalg.norm(centres, axis=1, keepdims=True) * original_norm
    np.testing.assert_allclose(last.weight.detach().numpy(), expected, rtol=1e-5)
    assert torch.all(last.bias == 0)


def test_random_init_keeps_the_default_head():
    method = make_cc()
    before = {k: v.clone() for k, v in method.cluster_head.state_dict().items()}
    method.init_head(np.ones((10, 5), dtype=np.float32), RecordingInit(None), seed=method.config.train.seed)
    for key, value in method.cluster_head.state_dict().items():
        assert torch.equal(value, before[key])


def test_train_step_outputs_and_loss_decomposition():
    method = make_cc(num_clusters=3)
    x, y = blobs(4, 3, 6, seed=0)
    weak, strong = x + 0.1 * torch.randn_like(x), x + 0.3 * torch.randn_like(x)
    batch = Batch(views={"weak": weak, "strong": strong}, index=torch.arange(12), label=y)
    step = method.train_step(batch)

    assert step.loss.requires_grad and torch.isfinite(step.loss)
    assert step.sample_loss.shape == (12,) and step.sample_loss.requires_grad  # weighted by fit_batch (InfoBatch)
    torch.testing.assert_close(step.sample_loss.mean(), step.loss.detach())
    with torch.no_grad():
        p_weak, p_strong = (method.cluster_head(method.encoder(v)).softmax(dim=1) for v in (weak, strong))
        assert p_weak.shape == p_strong.shape == (12, 3)
        torch.testing.assert_close(p_weak, method.predict(Batch({"val": weak}, batch.index, y)))
        z = [method.instance_head(method.encoder(v)) for v in (weak, strong)]
        instance, _ = nt_xent(z[0], z[1], 0.5)
        cluster = cluster_contrastive_loss(p_weak, p_strong, 1.0, 1.0)
    torch.testing.assert_close(step.loss.detach(), instance + cluster)


def test_a_few_steps_on_separable_blobs_move_accuracy_off_the_init():
    k = 3
    method = make_cc(num_clusters=k, input_dim=6, feature_dim=8, seed=0, hidden_dim=32, instance_dim=16)
    before, after = toys.accuracy_before_and_after_training(method, k)
    assert after >= 0.9
    assert after > before + 0.1


def test_unknown_param_is_rejected_with_its_name():
    with pytest.raises(ConfigError, match="method 'cc': unknown key 'method.params.temprature'"):
        make_cc(temprature=0.5)


def test_bad_method_params_are_rejected_when_the_config_is_parsed():
    with pytest.raises(ConfigError, match="instance_temperature"):
        validate_trial_config({"method.name": "cc", "method.params": {"instance_temperature": 0}})
