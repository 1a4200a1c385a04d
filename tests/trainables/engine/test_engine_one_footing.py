"""One footing (method.md, DSS): a real method with BatchNorm gives a sample the same S, pseudo-label and loss
signal whether the sample was trained or scored, when the model does not change."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from trainables.config import parse_trial_config
from trainables.engine import EpochEngine
from trainables.methods.base import Batch
from trainables.trial import assemble


class PerSampleViews(torch.utils.data.Dataset):
    """A dataset whose random views depend only on the sample index, so both routes see the same views."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        with torch.random.fork_rng():
            torch.manual_seed(index)
            return self.dataset[index]


def unchanged(parts) -> None:
    """No parameter moves (learning rates 0) and no BatchNorm running statistic moves (momentum 0)."""
    for optimizer in parts.optimizers:
        for group in optimizer.param_groups:
            group["lr"] = 0.0
    for module in parts.method.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.0


@pytest.mark.parametrize("method_name, params", [("scan", {"heads": 3}), ("cdc", {})])
def test_trained_and_scored_signals_agree_on_a_batchnorm_model(method_name, params, small_digits, fakes, tmp_path):
    config = parse_trial_config({
        **small_digits, "method.name": method_name, "method.params": params, "train.epochs": 2,
        "train.batch_size": 64, "train.score_batch_size": 100, "train.device": "cpu",
        "cache_dir": str(tmp_path / "cache"),
    })
    parts = assemble(config)
    excluded = np.arange(0, 400, 3)
    parts.selector = fakes.FixedSelector(400, excluded)
    parts.train_set = PerSampleViews(parts.train_set)
    unchanged(parts)
    assert any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in parts.method.encoder.modules())
    engine = EpochEngine(parts, config.train, method_name)

    engine.run_epoch(1, is_last=False)  # every sample trained
    _, trained = parts.selector.received[-1]
    engine.run_epoch(2, is_last=False)  # the excluded third scored
    _, mixed = parts.selector.received[-1]

    assert np.isnan(mixed.train_loss[excluded]).all() and np.isfinite(trained.train_loss).all()
    assert mixed.consistency.shape == (parts.method.num_heads, 400)  # a row per head
    np.testing.assert_allclose(mixed.consistency, trained.consistency, rtol=0, atol=1e-6)
    np.testing.assert_allclose(mixed.loss, trained.loss, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(mixed.pseudo_label, trained.pseudo_label)

    # Independently: eval-mode predict of the same views gives the predicting head's signals, and train mode
    # (batch statistics, the old footing of trained samples) would not.
    some = excluded[:64]
    views = [parts.train_set[int(i)][0] for i in some]
    weak, strong = (torch.stack([view[name] for view in views]) for name in ("weak", "strong"))

    def predict(images: torch.Tensor, training: bool) -> np.ndarray:
        parts.method.train(training)
        with torch.no_grad():
            batch = Batch(views={"val": images}, index=torch.as_tensor(some), label=None)
            return parts.method.predict(batch).double().numpy()

    p_weak, p_strong = predict(weak, False), predict(strong, False)
    cosine = (p_weak * p_strong).sum(1) / np.linalg.norm(p_weak, axis=1) / np.linalg.norm(p_strong, axis=1)
    head = parts.method.predicting_head()
    np.testing.assert_allclose(mixed.consistency[head, some], cosine, rtol=0, atol=1e-6)
    labels = p_weak.argmax(1)
    np.testing.assert_array_equal(mixed.pseudo_label[head, some], labels)
    np.testing.assert_allclose(mixed.loss[head, some], -np.log(p_strong[np.arange(64), labels]), rtol=0, atol=1e-6)
    assert np.abs(predict(weak, True) - p_weak).max() > 1e-3
