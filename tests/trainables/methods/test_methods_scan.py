"""SCAN: neighbour mining, head initialisation and the training step, against direct computations."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trainables import run_trial
from trainables.trial_checkpoints import save_checkpoint
from trainables.config import TrialConfig
from trainables.validation import validate_trial_config
from trainables.errors import CheckpointError, ConfigError
from trainables.methods import METHODS
from trainables.methods.base import Batch
from trainables.plugins import INIT_STRATEGIES

_spec = importlib.util.spec_from_file_location("contrastive_toys", Path(__file__).with_name("contrastive_toys.py"))
toys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toys)
unit_rows = toys.unit_rows

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
    scan.init_head(np.zeros((N, D), np.float32), FixedCentres(centres), seed=scan.config.train.seed)

    expected = centres / np.linalg.norm(centres, axis=1, keepdims=True) / math.sqrt(3)
    np.testing.assert_allclose(scan.heads[0].weight.detach().numpy(), expected, rtol=1e-6)
    assert torch.equal(scan.heads[0].bias.detach(), torch.zeros(K))
    default_norms = nn.Linear(512, 64).weight.norm(dim=1)
    assert default_norms.mean().item() == pytest.approx(1 / math.sqrt(3), rel=0.05)


def test_random_init_keeps_default_weights() -> None:
    scan, _ = build_scan()
    before = {name: p.detach().clone() for name, p in scan.heads[0].named_parameters()}
    scan.init_head(np.zeros((N, D), np.float32), FixedCentres(None), seed=scan.config.train.seed)
    for name, param in scan.heads[0].named_parameters():
        assert torch.equal(param.detach(), before[name])


def test_dachi_centres_land_in_the_head() -> None:
    scan, images = build_scan()
    features = np.concatenate([np.random.default_rng(2).normal(loc=5 * k, size=(N // 4, D)) for k in range(4)])
    features = features[:N].astype(np.float32)
    config = TrialConfig.model_validate({"init": {"strategy": "dachi", "kmeans_restarts": 1}})
    dachi = INIT_STRATEGIES.get("dachi")(config.init)
    scan.init_head(features, dachi, seed=scan.config.train.seed)

    centres = dachi.centres(unit_rows(features).astype(np.float32), K, scan.config.train.seed)
    expected = centres / np.linalg.norm(centres, axis=1, keepdims=True) / math.sqrt(3)
    np.testing.assert_allclose(scan.heads[0].weight.detach().numpy(), expected, rtol=1e-4, atol=1e-6)


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
        weights, bias = scan.heads[0].weight.numpy(), scan.heads[0].bias.numpy()
        enc_w, enc_b = scan.encoder.weight.numpy(), scan.encoder.bias.numpy()
    logits = lambda x: (x.numpy() @ enc_w.T + enc_b) @ weights.T + bias  # noqa: E731
    softmax = lambda z: np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # noqa: E731
    p = softmax(logits(images[index] * 2.0))
    q = softmax(logits(images[neighbours] * 2.0))
    mean_p = p.mean(axis=0)
    expected = -np.log((p * q).sum(axis=1)).mean() + 5.0 * (mean_p * np.log(mean_p)).sum()
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)


def test_neighbours_are_drawn_uniformly_from_the_list() -> None:
    scan, images = build_scan(num_neighbors=3)
    scan.prepare(np.random.default_rng(3).normal(size=(N, D)).astype(np.float32))
    torch.manual_seed(0)
    drawn = torch.stack([scan._draw_neighbours(torch.zeros(1000, dtype=torch.long)) for _ in range(4)]).flatten()
    counts = np.array([(drawn == j).sum().item() for j in scan.neighbours[0].tolist()])
    assert counts.sum() == 4000
    assert np.all(np.abs(counts / 4000 - 0.25) < 0.03)


def test_train_step_runs_no_forward_of_the_weak_view() -> None:
    scan, images = build_scan(num_neighbors=3)
    scan.prepare(images.numpy())
    scan.attach_view_source(lambda indices, view: images[indices])
    seen: list[torch.Tensor] = []
    scan.encoder.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    weak = torch.full((4, D), 123.0)  # recognisable, and never to be encoded
    scan.train_step(Batch(views={"strong": images[:4], "weak": weak}, index=torch.arange(4), label=torch.arange(4)))
    assert len(seen) == 2 and not any(torch.equal(x, weak) for x in seen)


def test_train_step_without_prepare_or_view_source_says_what_is_missing() -> None:
    scan, images = build_scan()
    batch = Batch(views={"strong": images[:4], "weak": images[:4]}, index=torch.arange(4), label=torch.arange(4))
    with pytest.raises(RuntimeError, match="prepare"):
        scan.train_step(batch)
    scan.prepare(images.numpy())
    with pytest.raises(RuntimeError, match="attach_view_source"):
        scan.train_step(batch)


def scan_loss_of(head: nn.Linear, encoder: nn.Module, anchors: torch.Tensor, neighbours: torch.Tensor) -> float:
    """SCAN's loss with lambda 5 from the formula, in NumPy."""
    with torch.no_grad():
        p, q = (torch.softmax(head(encoder(x)), 1).numpy().astype(np.float64) for x in (anchors, neighbours))
    mean_p = p.mean(axis=0)
    return -np.log((p * q).sum(axis=1)).mean() + 5.0 * (mean_p * np.log(mean_p)).sum()


def test_several_heads_sum_their_losses_and_the_lowest_tracked_loss_predicts() -> None:
    scan, images = build_scan(num_neighbors=3, heads=3)
    scan.prepare(images.numpy())
    scan.attach_view_source(lambda indices, view: images[indices] * 2.0)
    index = torch.arange(12)
    batch = Batch(views={"strong": images[index] * 2.0}, index=index, label=index)
    history = []
    for step in range(3):
        torch.manual_seed(step)
        neighbours = scan._draw_neighbours(index)
        torch.manual_seed(step)
        out = scan.train_step(batch)
        per_head = [scan_loss_of(h, scan.encoder, images[index] * 2.0, images[neighbours] * 2.0) for h in scan.heads]
        assert out.loss.item() == pytest.approx(sum(per_head), rel=1e-5)
        assert out.sample_loss.mean().item() == pytest.approx(out.loss.item(), rel=1e-4)
        history.append(per_head)
    expected = np.array(history[0])
    for losses in history[1:]:
        expected = 0.99 * expected + 0.01 * np.array(losses)
    np.testing.assert_allclose(scan.head_loss.numpy(), expected, rtol=1e-5)

    with torch.no_grad():
        scan.head_loss.copy_(torch.tensor([0.5, -1.0, 0.2]))
    scan.eval()
    val = Batch(views={"val": images}, index=torch.arange(N), label=torch.arange(N))
    torch.testing.assert_close(scan.predict(val), torch.softmax(scan.heads[1](scan.encoder(images)), 1).detach())
    every_head = torch.stack([torch.softmax(head(scan.encoder(images)), 1) for head in scan.heads]).detach()
    torch.testing.assert_close(scan.predict_heads(val), every_head)  # the per-head signals DSS follows
    assert scan.num_heads == 3 and scan.predicting_head() == 1
    torch.testing.assert_close(scan.head_loss, torch.tensor([0.5, -1.0, 0.2]))  # evaluation does not move the choice


def test_each_head_is_initialised_from_its_own_seed() -> None:
    scan, _ = build_scan(heads=2)
    seeds = []

    class SeedCentres:
        def centres(self, features, n_centres, seed):
            seeds.append(seed)
            return np.random.default_rng(seed).normal(size=(n_centres, D)).astype(np.float32)

    scan.init_head(np.random.default_rng(0).normal(size=(N, D)).astype(np.float32), SeedCentres(), seed=scan.config.train.seed)
    assert seeds == [0, 1]
    for head, seed in zip(scan.heads, seeds):
        centres = np.random.default_rng(seed).normal(size=(K, D))
        expected = centres / np.linalg.norm(centres, axis=1, keepdims=True) / math.sqrt(3)
        np.testing.assert_allclose(head.weight.detach().numpy(), expected, rtol=1e-5)


def test_self_label_step_is_balanced_cross_entropy_on_confident_weak_samples() -> None:
    scan, images = build_scan(stage="selflabel", confidence_threshold=0.6)
    assert scan.train_views == ("val", "strong")
    with torch.no_grad():
        scan.heads[0].weight.mul_(20.0)  # some samples confident, some not
    val, strong = images[:16], images[:16] + 0.3 * torch.randn(16, D, generator=torch.Generator().manual_seed(1))
    out = scan.train_step(Batch(views={"val": val, "strong": strong}, index=torch.arange(16), label=torch.arange(16)))

    with torch.no_grad():
        weak = torch.softmax(scan.heads[0](scan.encoder(val)), 1).numpy().astype(np.float64)
        log_strong = torch.log_softmax(scan.heads[0](scan.encoder(strong)), 1).numpy().astype(np.float64)
    keep = weak.max(axis=1) > 0.6
    labels = weak.argmax(axis=1)[keep]
    assert 0 < keep.sum() < 16 and len(set(labels.tolist())) > 1
    counts = np.bincount(labels, minlength=K)
    weights = 1.0 / counts[labels]
    expected = (weights * -log_strong[keep, labels]).sum() / weights.sum()
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    assert out.sample_loss.mean().item() == pytest.approx(expected, rel=1e-5)
    assert np.all(out.sample_loss.detach().numpy()[~keep] == 0)


def test_self_labelling_raises_accuracy_of_a_biased_head() -> None:
    """Three 2-d blobs, a confident head whose boundaries are shifted by its biases; self-labelling fixes them."""
    torch.manual_seed(0)
    config = TrialConfig.model_validate({"method": {"name": "scan", "params": {"stage": "selflabel"}}})
    encoder = nn.Linear(2, 2)
    scan = METHODS.get("scan").build(config, encoder, 3, 2)
    centres = np.array([[-3.0, 0.0], [0.0, 0.0], [3.0, 0.0]])
    truth = np.repeat(np.arange(3), 100)
    x = torch.tensor(centres[truth] + np.random.default_rng(0).normal(size=(300, 2)), dtype=torch.float32)
    with torch.no_grad():
        encoder.weight.copy_(torch.eye(2))
        encoder.bias.zero_()
        scan.heads[0].weight.copy_(torch.tensor(centres * 2.0))
        scan.heads[0].bias.copy_(torch.tensor([-9.0, 6.0, -15.0]))

    def accuracy() -> float:
        scan.eval()
        predictions = scan.predict(Batch(views={"val": x}, index=torch.arange(300), label=torch.tensor(truth)))
        scan.train()
        return toys.hungarian_accuracy(truth, predictions.argmax(1).numpy(), 3)

    before = accuracy()
    optimiser = torch.optim.Adam(scan.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    for _ in range(100):
        order = torch.randperm(300, generator=generator)[:100]
        strong = x[order] + 0.5 * torch.randn(100, 2, generator=generator)
        step = scan.train_step(Batch(views={"val": x[order], "strong": strong}, index=order, label=order))
        optimiser.zero_grad()
        step.loss.backward()
        optimiser.step()
    after = accuracy()
    assert before < 0.75 and after > 0.85  # measured: 0.68 -> 0.89 (the Bayes rate here is about 0.91)


@pytest.mark.parametrize("method", ["cc", "cdc"])
def test_self_label_stage_on_a_method_without_it_is_rejected_naming_the_key(method: str) -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'method\.params\.stage'"):
        validate_trial_config({"method.name": method, "method.params": {"stage": "selflabel"}})


def test_self_label_stage_trains_one_head() -> None:
    with pytest.raises(ConfigError, match="method.params.heads must be 1 with method.params.stage='selflabel'"):
        validate_trial_config({"method.name": "scan", "method.params": {"stage": "selflabel", "heads": 2}})


def test_self_label_stage_starts_from_the_scan_trials_encoder_and_lowest_loss_head(tmp_path: Path) -> None:
    scan, _ = build_scan(heads=3)
    with torch.no_grad():
        scan.head_loss.copy_(torch.tensor([0.3, 0.1, 0.2]))
        scan.encoder.weight.mul_(3.0)
    save_checkpoint(tmp_path / "scan", {"engine": {"method": scan.state_dict()}})

    torch.manual_seed(1)
    config = TrialConfig.model_validate(
        {"method": {"name": "scan", "params": {"stage": "selflabel", "scan_checkpoint": str(tmp_path / "scan")}}}
    )
    selflabel = METHODS.get("scan").build(config, nn.Linear(D, D), K, D)
    selflabel.prepare(np.zeros((N, D), np.float32))
    selflabel.init_head(np.zeros((N, D), np.float32), FixedCentres(np.ones((K, D), np.float32)), seed=selflabel.config.train.seed)
    assert torch.equal(selflabel.heads[0].weight, scan.heads[1].weight)
    assert torch.equal(selflabel.heads[0].bias, scan.heads[1].bias)
    assert torch.equal(selflabel.encoder.weight, scan.encoder.weight)
    assert selflabel.neighbours is None  # the self-label stage mines no neighbours


def test_a_scan_checkpoint_that_is_missing_misplaced_or_foreign_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="method.params.scan_checkpoint: no trial checkpoint at"):
        validate_trial_config({"method.name": "scan",
                            "method.params": {"stage": "selflabel", "scan_checkpoint": str(tmp_path)}})
    save_checkpoint(tmp_path / "other", {"engine": {"method": nn.Linear(D, K).state_dict()}})
    with pytest.raises(ConfigError, match="set method.params.stage='selflabel'"):
        validate_trial_config({"method.name": "scan", "method.params": {"scan_checkpoint": str(tmp_path / "other")}})
    config = TrialConfig.model_validate(
        {"method": {"name": "scan", "params": {"stage": "selflabel", "scan_checkpoint": str(tmp_path / "other")}}}
    )
    selflabel = METHODS.get("scan").build(config, nn.Linear(D, D), K, D)
    with pytest.raises(CheckpointError, match="holds no SCAN-stage trial"):
        selflabel.init_head(np.zeros((N, D), np.float32), FixedCentres(None), seed=selflabel.config.train.seed)


@pytest.mark.slow
def test_a_self_label_trial_continues_a_finished_scan_trial_on_digits(tmp_path: Path) -> None:
    settings = {"dataset.name": "digits", "encoder.arch": "small_cnn", "init.strategy": "prototype",
                "train.epochs": 1, "train.device": "cpu", "cache_dir": str(tmp_path / "cache"), "method.name": "scan"}
    run_trial({**settings, "method.params": {"heads": 2}}, workdir=tmp_path / "scan")
    (checkpoint,) = (tmp_path / "scan" / "checkpoints").iterdir()
    params = {"stage": "selflabel", "scan_checkpoint": str(checkpoint)}
    result = run_trial({**settings, "method.params": params}, workdir=tmp_path / "selflabel")
    assert len(result.curve) == 1 and np.isfinite(result.curve[0]["acc"])
