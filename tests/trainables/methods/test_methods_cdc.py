"""CDC: prototype initialisation, orthogonalisation, mini-cluster K-means and the training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import adjusted_rand_score
from torch import nn

from trainables.config import TrialConfig
from trainables.methods import METHODS
from trainables.methods.base import Batch
from trainables.methods.cdc_numerics import batch_kmeans, orthogonalise
from trainables.plugins import INIT_STRATEGIES

D, K, H = 6, 3, 8


class RecordingInit:
    """A HeadInitializer stand-in: centres = means of consecutive row chunks; records its inputs."""

    def __init__(self) -> None:
        self.inputs: list[np.ndarray] = []

    def centres(self, features: np.ndarray, n_centres: int, seed: int) -> np.ndarray:
        self.inputs.append(features.copy())
        return np.stack([chunk.mean(axis=0) for chunk in np.array_split(features, n_centres)]).astype(np.float32)


class NoCentres:
    def centres(self, features: np.ndarray, n_centres: int, seed: int) -> None:
        return None


def build_cdc(**params: object) -> nn.Module:
    torch.manual_seed(0)
    settings = {"hidden_dim": H, "orth_steps": 0, **params}
    config = TrialConfig.model_validate({"method": {"name": "cdc", "params": settings}})
    return METHODS.get("cdc").build(config, nn.Linear(D, D), K, D)


def spherical(x: np.ndarray) -> np.ndarray:
    z = (x - x.mean(axis=1, keepdims=True)) / x.std(axis=1, keepdims=True)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def chunk_means(x: np.ndarray, n: int) -> np.ndarray:
    return np.stack([chunk.mean(axis=0) for chunk in np.array_split(x, n)])


def test_prototype_init_reproduces_the_direct_formula() -> None:
    features = np.random.default_rng(0).normal(size=(30, D)).astype(np.float64) * 3 + 1
    cdc = build_cdc()
    recorder = RecordingInit()
    cdc.init_head(features.astype(np.float32), recorder, seed=cdc.config.train.seed)

    first = chunk_means(spherical(features), H)
    hidden = features @ first.T
    hidden = (hidden - hidden.mean(axis=0)) / np.sqrt(hidden.var(axis=0) + 1e-5)
    second = chunk_means(spherical(np.maximum(hidden, 0)), K)

    np.testing.assert_allclose(recorder.inputs[0], spherical(features), atol=1e-5)
    np.testing.assert_allclose(cdc.cluster_head[0].weight.detach().numpy(), first, atol=1e-5)
    np.testing.assert_allclose(cdc.cluster_head[3].weight.detach().numpy(), second, atol=1e-4)
    for head in (cdc.cluster_head, cdc.calibration_head):
        assert torch.equal(head[0].bias.detach(), torch.zeros(H))
        assert torch.equal(head[3].bias.detach(), torch.zeros(K))
    for mine, twin in zip(cdc.cluster_head.state_dict().values(), cdc.calibration_head.state_dict().values()):
        assert torch.equal(mine, twin)


def test_second_layer_centres_come_from_the_plain_first_layer_centres() -> None:
    features = np.random.default_rng(5).normal(size=(30, D)).astype(np.float64) * 2 - 1
    cdc = build_cdc(orth_steps=30)
    recorder = RecordingInit()
    cdc.init_head(features.astype(np.float32), recorder, seed=cdc.config.train.seed)

    plain_first = chunk_means(spherical(features), H)
    hidden = features @ plain_first.T
    hidden = (hidden - hidden.mean(axis=0)) / np.sqrt(hidden.var(axis=0) + 1e-5)
    np.testing.assert_allclose(recorder.inputs[1], spherical(np.maximum(hidden, 0)), atol=1e-4)
    orthogonal_first = orthogonalise(torch.tensor(plain_first, dtype=torch.float32), 30)
    torch.testing.assert_close(cdc.cluster_head[0].weight.detach(), orthogonal_first)
    assert not np.allclose(orthogonal_first.numpy(), plain_first, atol=1e-3)  # the two W1 really differ
    second = orthogonalise(torch.tensor(chunk_means(recorder.inputs[1], K), dtype=torch.float32), 30)
    torch.testing.assert_close(cdc.cluster_head[3].weight.detach(), second)


def test_fewer_samples_than_hidden_units_initialise_only_that_many_rows() -> None:
    cdc = build_cdc(hidden_dim=20)
    default_rows = cdc.cluster_head[0].weight.detach().clone()
    features = np.random.default_rng(1).normal(size=(12, D)).astype(np.float32)
    cdc.init_head(features, RecordingInit(), seed=cdc.config.train.seed)
    weight = cdc.cluster_head[0].weight.detach()
    np.testing.assert_allclose(weight[:12].numpy(), chunk_means(spherical(features), 12), atol=1e-5)
    assert torch.equal(weight[12:], default_rows[12:])


def test_random_init_keeps_default_weights() -> None:
    cdc = build_cdc()
    before = {k: v.clone() for k, v in cdc.state_dict().items()}
    cdc.init_head(np.random.default_rng(2).normal(size=(30, D)).astype(np.float32), NoCentres(), seed=cdc.config.train.seed)
    for key, value in cdc.state_dict().items():
        assert torch.equal(value, before[key])


def test_dachi_centres_land_in_the_first_layer() -> None:
    rng = np.random.default_rng(3)
    features = np.concatenate([rng.normal(loc=4 * k, size=(20, D)) for k in range(3)]).astype(np.float32)
    config = TrialConfig.model_validate({"init": {"strategy": "dachi", "kmeans_restarts": 1}})
    dachi = INIT_STRATEGIES.get("dachi")(config.init)
    cdc = build_cdc()
    cdc.init_head(features, dachi, seed=cdc.config.train.seed)
    expected = dachi.centres(spherical(features.astype(np.float64)).astype(np.float32), H, cdc.config.train.seed)
    np.testing.assert_allclose(cdc.cluster_head[0].weight.detach().numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(cdc.calibration_head[3].weight.detach(), cdc.cluster_head[3].weight.detach())


def test_orthogonalise_separates_rows_and_keeps_each_nearest_its_own_centre() -> None:
    base = torch.randn(1, 16)
    centres = F.normalize(base + 0.3 * torch.randn(5, 16, generator=torch.Generator().manual_seed(0)), dim=1)
    rows = orthogonalise(centres, steps=200)

    def mean_off_diagonal_cosine(x: torch.Tensor) -> float:
        cos = F.normalize(x, dim=1) @ F.normalize(x, dim=1).T
        return (cos.sum() - cos.diagonal().sum()).item() / (len(x) * (len(x) - 1))

    assert mean_off_diagonal_cosine(rows) < mean_off_diagonal_cosine(centres) - 0.2
    similarity = F.normalize(rows, dim=1) @ centres.T
    assert torch.equal(similarity.argmax(dim=1), torch.arange(5))
    assert torch.equal(rows, orthogonalise(centres, steps=200))
    assert torch.equal(orthogonalise(centres, steps=0), centres)


def test_batch_kmeans_recovers_separated_blobs_deterministically() -> None:
    rng = np.random.default_rng(4)
    truth = np.repeat(np.arange(4), 15)
    points = torch.tensor(rng.normal(size=(60, 3)) * 0.1 + truth[:, None] * 3.0, dtype=torch.float32)
    labels = batch_kmeans(points, 4, iters=10, seed=0)
    assert adjusted_rand_score(truth, labels.numpy()) == 1.0
    assert torch.equal(labels, batch_kmeans(points, 4, iters=10, seed=0))


def test_batch_kmeans_with_duplicates_and_as_many_clusters_as_points() -> None:
    points = torch.tensor([[0.0, 1.0]] * 5 + [[1.0, 0.0]] * 3)
    labels = batch_kmeans(points, 8, iters=5, seed=1)
    assert labels.shape == (8,)
    assert len(set(labels[:5].tolist())) == 1 and len(set(labels[5:].tolist())) == 1


def make_batch(size: int, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    views = {name: torch.randn(size, D, generator=g) for name in ("val", "weak", "strong")}
    return Batch(views=views, index=torch.arange(size), label=torch.zeros(size, dtype=torch.long))


def reference_loss(cdc: nn.Module, batch: Batch, sub_batch: int) -> float:
    """CDC's loss recomputed from the formulas, with the heads as black boxes."""
    from trainables.methods.losses import cdc_select

    params = cdc.params
    with torch.no_grad():
        encode = cdc.encoder
        val = encode(batch.views["val"])
        p_weak = F.softmax(cdc.calibration_head(encode(batch.views["weak"])), 1).numpy()
        p_val = F.softmax(cdc.cluster_head(val), 1).numpy()
        strong_log = F.log_softmax(cdc.cluster_head(encode(batch.views["strong"])), 1).numpy()
        cal_log = F.log_softmax(cdc.calibration_head(val), 1).numpy()
        n_mini = min(params.mini_clusters, len(val))
        groups = batch_kmeans(F.normalize(val, p=1, dim=1), n_mini, params.kmeans_iters, 0).numpy()
    positions, labels = (t.numpy() for t in cdc_select(torch.tensor(p_weak), params.top_m))
    targets = np.stack([p_val[groups == g].mean(axis=0) for g in groups])
    clustering, calibration = [], []
    for start in range(0, len(val), sub_batch):
        inside = (positions >= start) & (positions < start + sub_batch)
        if inside.any():
            clustering.append(-strong_log[positions[inside], labels[inside]].mean())
        log_q = cal_log[start:start + sub_batch]
        mean_q = np.exp(log_q).mean(axis=0)
        calibration.append(-(targets[start:start + sub_batch] * log_q).sum(1).mean()
                           + params.entropy_weight * (mean_q * np.log(mean_q)).sum())
    return (np.mean(clustering) if clustering else 0.0) + np.mean(calibration)


@pytest.mark.parametrize("sub_batch", [24, 7])
def test_train_step_matches_the_formulas(sub_batch: int) -> None:
    cdc = build_cdc(top_m=5, mini_clusters=6, sub_batch_size=sub_batch)
    cdc.eval()  # fixed BN statistics so the reference sees the same head functions
    batch = make_batch(24)
    out = cdc.train_step(batch)
    assert out.loss.item() == pytest.approx(reference_loss(cdc, batch, sub_batch), rel=1e-5)
    assert out.sample_loss.shape == (24,)
    out.loss.backward()
    assert cdc.encoder.weight.grad is not None and cdc.cluster_head[0].weight.grad is not None


def test_calibration_loss_does_not_reach_the_encoder() -> None:
    cdc = build_cdc(top_m=1)
    with torch.no_grad():
        cdc.calibration_head[3].weight.zero_()  # uniform calibration -> floor(1 * 1/K) = 0: nothing selected
    out = cdc.train_step(make_batch(16))
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert cdc.encoder.weight.grad is None or torch.count_nonzero(cdc.encoder.weight.grad) == 0
    assert torch.count_nonzero(cdc.calibration_head[3].weight.grad) > 0


def test_no_nan_with_empty_selection_and_empty_mini_clusters() -> None:
    cdc = build_cdc(top_m=2, mini_clusters=50, sub_batch_size=4)
    with torch.no_grad():
        cdc.calibration_head[3].weight.zero_()
    batch = make_batch(12)
    batch.views["val"] = batch.views["val"][:1].repeat(12, 1)  # identical rows: most mini-clusters empty
    out = cdc.train_step(batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(out.sample_loss).all()
    assert all(torch.isfinite(p.grad).all() for p in cdc.parameters() if p.grad is not None)


def test_predict_uses_the_calibration_head() -> None:
    cdc = build_cdc().eval()
    batch = make_batch(10)
    with torch.no_grad():
        expected = F.softmax(cdc.calibration_head(cdc.encoder(batch.views["val"])), dim=1)
        cdc.cluster_head[3].weight.mul_(-3.0)
    torch.testing.assert_close(cdc.predict(batch), expected)


def test_small_datasets_get_parameters_that_fit_a_batch() -> None:
    for dataset in ("digits", "coil20"):
        config = TrialConfig.model_validate({"dataset": {"name": dataset}, "method": {"name": "cdc"}})
        params = METHODS.get("cdc").resolve_params(config)
        assert params.top_m <= config.train.batch_size and params.mini_clusters <= config.train.batch_size


def counted_optimisers(cdc: nn.Module) -> tuple[list[torch.optim.Optimizer], list[int]]:
    """CDC's own optimisers, each ``step`` wrapped to count its calls."""
    optimisers, counts = cdc.configure_optimizers(), [0, 0]
    for position, optimiser in enumerate(optimisers):
        def counting_step(*args, _step=optimiser.step, _position=position, **kwargs):
            counts[_position] += 1
            return _step(*args, **kwargs)
        optimiser.step = counting_step
    return optimisers, counts


def test_two_optimisers_cover_the_clustering_side_and_the_calibration_head() -> None:
    config = TrialConfig.model_validate({
        "method": {"name": "cdc", "params": {"hidden_dim": H}},
        "train": {"encoder_mode": "finetune", "lr_head": 1e-3, "lr_backbone": 1e-4},
    })
    cdc = METHODS.get("cdc").build(config, nn.Linear(D, D), K, D)
    clustering, calibration = cdc.configure_optimizers()
    ids = lambda optimiser: {id(p): g["lr"] for g in optimiser.param_groups for p in g["params"]}  # noqa: E731
    expected = {id(p): 1e-3 for p in cdc.cluster_head.parameters()}
    expected.update({id(p): 1e-4 for p in cdc.encoder.parameters()})
    assert ids(clustering) == expected
    assert ids(calibration) == {id(p): 1e-3 for p in cdc.calibration_head.parameters()}


@pytest.mark.parametrize(("batch_size", "sub_batches"), [(11, 4), (12, 4), (10, 3), (3, 1)])
def test_fit_batch_steps_both_optimisers_after_every_sub_batch(batch_size: int, sub_batches: int) -> None:
    cdc = build_cdc(top_m=4, mini_clusters=3, sub_batch_size=3)
    optimisers, counts = counted_optimisers(cdc)
    before = [p.detach().clone() for p in cdc.calibration_head.parameters()]
    step = cdc.fit_batch(make_batch(batch_size), optimisers)
    # ceil(B / 3) sub-batches, each stepping both optimisers; a trailing single row (B = 10) joins the one before.
    assert counts == [sub_batches, sub_batches]
    assert torch.isfinite(step.loss) and step.sample_loss.shape == (batch_size,)
    assert any(not torch.equal(p.detach(), b) for p, b in zip(cdc.calibration_head.parameters(), before))


def test_fit_batch_equals_a_plain_loop_of_sub_batch_steps() -> None:
    batch, sub_batch = make_batch(10, seed=3), 4
    fitted = build_cdc(top_m=4, mini_clusters=3, sub_batch_size=sub_batch)
    fitted.fit_batch(batch, fitted.configure_optimizers())

    manual = build_cdc(top_m=4, mini_clusters=3, sub_batch_size=sub_batch)
    optimisers = manual.configure_optimizers()
    plan = manual._plan(batch)
    for start in range(0, 10, sub_batch):
        part = manual._sub_batch_loss(batch, plan, start, min(start + sub_batch, 10))
        for optimiser in optimisers:
            optimiser.zero_grad()
        part.objective().backward()
        for optimiser in optimisers:
            optimiser.step()
    for mine, theirs in zip(fitted.state_dict().values(), manual.state_dict().values()):
        torch.testing.assert_close(mine, theirs)


def test_fit_batch_without_nan_on_empty_selection_and_empty_mini_clusters() -> None:
    cdc = build_cdc(top_m=2, mini_clusters=50, sub_batch_size=4)
    with torch.no_grad():
        cdc.calibration_head[3].weight.zero_()
    batch = make_batch(12)
    batch.views["val"] = batch.views["val"][:1].repeat(12, 1)
    step = cdc.fit_batch(batch, cdc.configure_optimizers())
    assert torch.isfinite(step.loss) and torch.isfinite(step.sample_loss).all()
    assert all(torch.isfinite(p).all() for p in cdc.parameters())
