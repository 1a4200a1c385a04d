"""TCL: pre-activation heads, DACHI through BatchNorm, both stages, and a toy optimisation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import math

import numpy as np
import torch
from torch import nn

from trainables.methods.base import Batch
from trainables.methods.contrastive import balanced_cross_entropy, cluster_contrastive_loss, nt_xent

_spec = importlib.util.spec_from_file_location("contrastive_toys", Path(__file__).with_name("contrastive_toys.py"))
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)
RecordingInit, blobs, unit_rows = toys.RecordingInit, toys.blobs, toys.unit_rows


def make_tcl(**kwargs):
    return toys.make_method("tcl", **kwargs)


def batch_norm(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    return (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)


def test_tcl_heads_are_pre_activation_with_small_normal_cluster_layers_as_in_the_reference():
    method = make_tcl(num_clusters=4, feature_dim=5, seed=0)
    kinds = [type(m) for m in method.cluster_head]
    assert kinds == [nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert [type(m) for m in method.instance_head] == kinds
    hidden, last = method.cluster_head[2], method.cluster_head[-1]
    assert hidden.weight.shape == (512, 5) and last.weight.shape == (4, 512)
    for layer in (hidden, last):  # normal(0, 0.02): about 5% of the weights lie beyond two std
        weight = layer.weight.detach()
        assert abs(weight.std().item() - 0.02) < 0.003 and abs(weight.mean().item()) < 0.003
        assert 0.02 < (weight.abs() > 0.04).float().mean().item() < 0.09
    bound = 1 / math.sqrt(512)  # the biases keep nn.Linear's uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert last.bias.abs().max() <= bound and last.bias.abs().max() > 0
    instance_last = method.instance_head[-1].weight.detach()
    assert instance_last.abs().max() <= bound and instance_last.std().item() > 0.02  # the instance head keeps PyTorch's


def test_init_head_forwards_through_bn_with_full_batch_statistics_and_keeps_running_stats():
    method = make_tcl(num_clusters=3, feature_dim=5, hidden_dim=8)
    features = np.random.default_rng(0).normal(loc=2.0, size=(30, 5)).astype(np.float32)
    linear = method.cluster_head[2]
    last = method.cluster_head[-1]
    original_norm = last.weight.detach().norm(dim=1).mean().item()
    running_before = method.cluster_head[0].running_mean.clone()
    centres = np.random.default_rng(1).normal(size=(3, 8))
    init = RecordingInit(centres)
    method.init_head(features, init, seed=method.config.train.seed)

    w, b = linear.weight.detach().double().numpy(), linear.bias.detach().double().numpy()
    hidden = np.maximum(batch_norm(np.maximum(batch_norm(features.astype(np.float64)), 0) @ w.T + b), 0)
    np.testing.assert_allclose(init.seen, unit_rows(hidden), rtol=1e-4, atol=1e-4)
    expected = centres / np.linalg.norm(centres, axis=1, keepdims=True) * original_norm
    np.testing.assert_allclose(last.weight.detach().numpy(), expected, rtol=1e-5)
    assert torch.all(last.bias == 0)
    assert torch.equal(method.cluster_head[0].running_mean, running_before)
    assert method.training


def test_cluster_stage_step_is_cc_objective_on_tcl_heads():
    method = make_tcl(num_clusters=3)
    x, y = blobs(4, 3, 6, seed=0)
    weak, strong = x + 0.1 * torch.randn_like(x), x + 0.3 * torch.randn_like(x)
    step = method.train_step(Batch(views={"weak": weak, "strong": strong}, index=torch.arange(12), label=y))
    assert torch.isfinite(step.loss) and step.loss.requires_grad
    assert step.sample_loss.shape == (12,)
    torch.testing.assert_close(step.sample_loss.mean(), step.loss.detach())
    with torch.no_grad():  # train mode, as in the step: BN normalises with the batch's statistics
        p_weak, p_strong = (method.cluster_head(method.encoder(v)).softmax(dim=1) for v in (weak, strong))
        z = [method.instance_head(method.encoder(v)) for v in (weak, strong)]
        instance, _ = nt_xent(z[0], z[1], 0.5)
        cluster = cluster_contrastive_loss(p_weak, p_strong, 1.0, 1.0)
    torch.testing.assert_close(step.loss.detach(), instance + cluster)


def test_boost_stage_uses_confident_pseudo_labels_and_masks_their_negatives():
    method = make_tcl(num_clusters=2, stage="boost", boost_threshold=0.99)
    batch_size = 8
    logits_weak = torch.tensor([[9.0, 0], [8, 0], [7, 0], [0.5, 0], [0, 9], [0, 3], [0, 6], [6, 0]])
    logits_strong = torch.randn(batch_size, 2)
    z_weak, z_strong = torch.randn(batch_size, 4), torch.randn(batch_size, 4)
    loss, sample_loss = method.objective(z_weak, z_strong, logits_weak, logits_strong)

    per_cluster = math.ceil(0.5 * batch_size / 2)
    probs = logits_weak.softmax(1)
    labels = torch.full((batch_size,), -1)
    for k in range(2):
        members = [i for i in range(batch_size) if probs[i].argmax() == k and probs[i].max() >= 0.99]
        for i in sorted(members, key=lambda i: -probs[i].max().item())[:per_cluster]:
            labels[i] = k
    assert labels.tolist() == [0, 0, -1, -1, 1, -1, 1, -1]  # 2, 7: over the cap of 2; 3, 5: below 0.99
    same = torch.tensor([[bool(a >= 0 and a == b) for a in labels] for b in labels])
    instance, instance_share = nt_xent(z_weak, z_strong, 0.5, pair_mask=same)
    ce, ce_share = balanced_cross_entropy(logits_strong, labels)
    torch.testing.assert_close(loss, instance + ce)
    torch.testing.assert_close(sample_loss, instance_share + ce_share)
    torch.testing.assert_close(sample_loss.mean(), loss)


def test_cluster_stage_moves_accuracy_off_the_init_on_separable_blobs():
    k = 3
    method = make_tcl(num_clusters=k, input_dim=6, feature_dim=8, seed=0, hidden_dim=32, instance_dim=16)
    before, after = toys.accuracy_before_and_after_training(method, k)
    assert after >= 0.9
    assert after > before + 0.1
