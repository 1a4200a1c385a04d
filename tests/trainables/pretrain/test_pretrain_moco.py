"""MoCo-v2 pieces against direct formulas, the augmentations against reference operations, and a short run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from trainables.config import DatasetConfig, EncoderConfig
from trainables.errors import ConfigError
from trainables.models.encoder_checkpoints import read_checkpoint
from trainables.models.encoders import InputShape, build_encoder
from trainables.pretrain.augment import AugmentConfig, BatchAugment
from trainables.pretrain.moco import MoCo, info_nce_loss
from trainables.pretrain.train import PretrainListener, PretrainOptions, pretrain

class RecordingListener(PretrainListener):
    def __init__(self) -> None:
        self.started_with: tuple[int, int] | None = None
        self.steps: list[tuple[int, float]] = []
        self.epochs: list[tuple[int, float]] = []

    def started(self, epochs: int, steps_per_epoch: int) -> None:
        self.started_with = (epochs, steps_per_epoch)

    def stepped(self, epoch: int, loss: float) -> None:
        self.steps.append((epoch, loss))

    def epoch_ended(self, epoch: int, mean_loss: float) -> None:
        self.epochs.append((epoch, mean_loss))


NOTHING = AugmentConfig(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_prob=0.0, jitter_prob=0.0,
                        grayscale_prob=0.0, blur_prob=0.0)


def images(n: int = 6, channels: int = 3, size: int = 16) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0)) * 4 - 2


def augmenter(config: AugmentConfig, batch: torch.Tensor) -> BatchAugment:
    return BatchAugment(config, batch.amin(dim=(0, 2, 3)), batch.amax(dim=(0, 2, 3)))


def test_disabled_augmentations_are_the_identity_and_flip_mirrors() -> None:
    batch = images()
    torch.testing.assert_close(augmenter(NOTHING, batch)(batch), batch, atol=1e-5, rtol=0)
    flip = AugmentConfig(**{**NOTHING.__dict__, "flip_prob": 1.0})
    torch.testing.assert_close(augmenter(flip, batch)(batch), batch.flip(-1), atol=1e-5, rtol=0)


def test_blur_matches_scipy_gaussian_filter() -> None:
    batch = images(n=2, channels=1, size=12)
    sigma = 1.3
    blur = AugmentConfig(**{**NOTHING.__dict__, "blur_prob": 1.0, "blur_sigma": (sigma, sigma), "blur_kernel": 7})
    result = augmenter(blur, batch)(batch).numpy()
    for i in range(2):
        expected = gaussian_filter(batch[i, 0].double().numpy(), sigma, mode="mirror", truncate=3 / sigma)
        np.testing.assert_allclose(result[i, 0], expected, atol=1e-4)


@pytest.mark.parametrize("size,channels", [(8, 1), (32, 1), (32, 3), (96, 3)])
def test_moco_v2_augmentations_stay_in_range_and_differ_per_sample(size: int, channels: int) -> None:
    batch = images(n=8, channels=channels, size=size)
    augment = augmenter(AugmentConfig.for_image_size(size, channels), batch)
    generator = torch.Generator().manual_seed(1)
    first, second = augment(batch, generator), augment(batch, generator)
    assert first.shape == batch.shape
    assert first.min() >= batch.min() - 1e-5 and first.max() <= batch.max() + 1e-5
    assert not torch.allclose(first, second)


def test_info_nce_matches_direct_formula() -> None:
    rng = np.random.default_rng(0)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    q, k, queue = unit(rng.normal(size=(5, 4))), unit(rng.normal(size=(5, 4))), unit(rng.normal(size=(7, 4)))
    expected = 0.0
    for i in range(5):
        logits = np.concatenate([[q[i] @ k[i]], queue @ q[i]]) / 0.2
        expected += -logits[0] + np.log(np.exp(logits).sum())
    loss = info_nce_loss(*(torch.from_numpy(a) for a in (q, k, queue)), temperature=0.2)
    assert loss.item() == pytest.approx(expected / 5)


def tiny_moco(queue_size: int = 10) -> MoCo:
    torch.manual_seed(0)
    backbone = build_encoder(EncoderConfig(arch="small_cnn"), InputShape(True, 1, 8, 64))
    return MoCo(backbone, queue_size=queue_size, out_dim=6, momentum=0.9, shuffle_chunks=2)


def test_step_moves_key_encoder_by_momentum_and_fills_queue_cyclically() -> None:
    model = tiny_moco()
    with torch.no_grad():
        model.backbone.block1[0].weight.add_(1.0)
    online = model.backbone.block1[0].weight.detach().clone()
    old_key = model.momentum_backbone.block1[0].weight.detach().clone()
    old_queue = model.queue.clone()
    batch = torch.randn(8, 1, 8, 8)
    model(batch, batch)
    torch.testing.assert_close(model.momentum_backbone.block1[0].weight, 0.9 * old_key + 0.1 * online)
    assert int(model.queue_pointer) == 8
    assert torch.equal(model.queue[8:], old_queue[8:]) and not torch.equal(model.queue[:8], old_queue[:8])
    model(batch, batch)
    assert int(model.queue_pointer) == 6
    torch.testing.assert_close(model.queue.norm(dim=1), torch.ones(10))


def test_pretrain_writes_a_checkpoint_the_encoder_loads(tmp_path: Path) -> None:
    options = PretrainOptions(batch_size=512, queue_size=512, device="cpu")
    listener = RecordingListener()
    out = tmp_path / "enc" / "digits.ckpt"
    result = pretrain(DatasetConfig(name="digits"), "small_cnn", 2, out, options, listener)
    assert listener.started_with == (2, 1797 // 512)
    assert [epoch for epoch, _ in listener.epochs] == [1, 2] and all(np.isfinite(l) for _, l in listener.epochs)
    assert len(listener.steps) == 2 * (1797 // 512)
    assert [loss for epoch, loss in listener.steps if epoch == 1][-1] == pytest.approx(listener.epochs[0][1])
    assert result.checkpoint == out and out.is_file()
    assert torch.load(out, weights_only=True)["arch"] == "small_cnn"
    encoder = build_encoder(EncoderConfig(arch="small_cnn", checkpoint=out), InputShape(True, 1, 8, 64))
    stored = read_checkpoint(out)
    assert torch.equal(encoder.block3[0].weight, stored["backbone.block3.0.weight"])
    assert not torch.equal(encoder.block3[0].weight, build_encoder(EncoderConfig(), InputShape(True, 1, 8, 64))
                           .block3[0].weight)


def test_pretrain_rejects_unknown_arch_and_bad_epochs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown encoder arch 'resnet99'; choose one of: .*mlp"):
        pretrain(DatasetConfig(name="digits"), "resnet99", 1, tmp_path / "x.ckpt", PretrainOptions(device="cpu"))
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        pretrain(DatasetConfig(name="digits"), "small_cnn", 0, tmp_path / "x.ckpt", PretrainOptions(device="cpu"))


def test_flip_defaults_to_images_of_at_least_32_px() -> None:
    assert AugmentConfig.for_image_size(8, 1).flip_prob == 0.0
    assert AugmentConfig.for_image_size(32, 1).flip_prob == 0.5
    assert AugmentConfig.for_image_size(8, 1, flip=True).flip_prob == 0.5
    assert AugmentConfig.for_image_size(96, 3, flip=False).flip_prob == 0.0


def test_pretrain_is_bitwise_repeatable_on_cpu(tmp_path: Path) -> None:
    options = PretrainOptions(batch_size=512, queue_size=512, device="cpu", seed=4)
    first = pretrain(DatasetConfig(name="digits"), "small_cnn", 1, tmp_path / "a.ckpt", options)
    second = pretrain(DatasetConfig(name="digits"), "small_cnn", 1, tmp_path / "b.ckpt", options)
    assert first.losses == second.losses
    a, b = read_checkpoint(first.checkpoint), read_checkpoint(second.checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)
