"""SCARF feature corruption against a plain loop, and MoCo pre-training of an mlp on vector data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainables.config import DatasetConfig, EncoderConfig
from trainables.errors import ConfigError
from trainables.models.encoder_checkpoints import read_checkpoint
from trainables.models.encoders import InputShape, build_encoder
from trainables.pretrain.corruption import CorruptionConfig, FeatureCorruption
from trainables.pretrain.train import PretrainOptions, pretrain


def pool(rows: int = 50, features: int = 7) -> torch.Tensor:
    return torch.randn(rows, features, generator=torch.Generator().manual_seed(0))


def test_corruption_matches_a_plain_loop_over_the_same_draws() -> None:
    data, rate = pool(), 0.6
    batch = data[:20]
    corrupted = FeatureCorruption(CorruptionConfig(rate), data)(batch, torch.Generator().manual_seed(3))
    draws = torch.Generator().manual_seed(3)
    replace = torch.rand(20, 7, generator=draws) < rate
    donors = torch.randint(50, (20, 7), generator=draws)
    for i in range(20):
        for j in range(7):
            expected = data[donors[i, j], j] if replace[i, j] else batch[i, j]
            assert corrupted[i, j] == expected


def test_corruption_replaces_about_rate_of_features_with_values_of_the_same_column() -> None:
    data = pool(rows=400, features=25)
    corrupted = FeatureCorruption(CorruptionConfig(0.6), data)(data, torch.Generator().manual_seed(1))
    changed = (corrupted != data).float().mean().item()
    assert changed == pytest.approx(0.6 * (1 - 1 / 400), abs=0.02)  # a donor may be the row itself
    for j in range(25):
        assert np.isin(corrupted[:, j].numpy(), data[:, j].numpy()).all()


def test_zero_rate_is_the_identity_and_bad_rates_are_config_errors() -> None:
    data = pool()
    assert torch.equal(FeatureCorruption(CorruptionConfig(0.0), data)(data), data)
    for rate in (-0.1, 1.0):
        with pytest.raises(ConfigError, match="corruption rate must lie in \\[0, 1\\)"):
            CorruptionConfig(rate)


def vector_data(tmp_path: Path) -> DatasetConfig:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 120)
    x = rng.normal(scale=3.0, size=(3, 10))[truth] + rng.normal(size=(120, 10))
    np.savez(tmp_path / "data.npz", x=x, y=truth)
    return DatasetConfig(name="arrays", root=tmp_path / "data.npz")


def test_mlp_pretraining_on_vectors_writes_a_checkpoint_the_mlp_loads(tmp_path: Path) -> None:
    options = PretrainOptions(batch_size=32, queue_size=64, device="cpu", seed=2)
    result = pretrain(vector_data(tmp_path), "mlp", 3, tmp_path / "mlp.ckpt", options)
    assert len(result.losses) == 3 and all(np.isfinite(result.losses))
    stored = torch.load(result.checkpoint, weights_only=True)
    assert stored["method"] == "mocov2-scarf" and stored["input_dim"] == 10 and stored["arch"] == "mlp"
    encoder = build_encoder(EncoderConfig(arch="mlp", checkpoint=result.checkpoint), InputShape(False, 0, None, 10))
    assert torch.equal(encoder.layers[1].weight, read_checkpoint(result.checkpoint)["backbone.layers.1.weight"])
    again = pretrain(vector_data(tmp_path), "mlp", 3, tmp_path / "again.ckpt", options)
    assert again.losses == result.losses


def test_image_arch_on_vectors_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs image data but the dataset holds vectors; use 'mlp'"):
        pretrain(vector_data(tmp_path), "small_cnn", 1, tmp_path / "x.ckpt", PretrainOptions(device="cpu"))
    assert not (tmp_path / "x.ckpt").exists()
