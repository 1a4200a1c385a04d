"""Every registered encoder: output shape, feature_dim, stems, input channels and arch/data checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainables.config import EncoderConfig
from trainables.errors import ConfigError
from trainables.models import ENCODERS
from trainables.models.encoders import InputShape, build_encoder, encoder_cache_key

IMAGE_ARCHS = [name for name in ENCODERS if name != "mlp"]


class FakeDataset:
    """The attributes of a ClusteringDataset that encoders read."""

    def __init__(self, channels: int, size: int | None, input_dim: int) -> None:
        self.is_image = size is not None
        self.num_channels = channels
        self.image_size = size
        self.input_dim = input_dim


@pytest.mark.parametrize("arch", ENCODERS.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_every_encoder_maps_a_batch_to_feature_dim(arch: str, channels: int) -> None:
    dataset = FakeDataset(channels, 16, channels * 16 * 16)
    encoder = build_encoder(EncoderConfig(arch=arch), dataset)
    features = encoder(torch.randn(3, channels, 16, 16))
    assert features.shape == (3, encoder.feature_dim)


def test_cifar_stem_keeps_resolution_and_imagenet_stem_downsamples() -> None:
    shape = InputShape(is_image=True, channels=3, image_size=32, input_dim=3 * 32 * 32)
    cifar = build_encoder(EncoderConfig(arch="resnet18", stem="cifar", stem_padding=2), shape)
    imagenet = build_encoder(EncoderConfig(arch="resnet18", stem="imagenet"), shape)
    assert cifar.conv1.kernel_size == (3, 3) and cifar.conv1.stride == (1, 1) and cifar.conv1.padding == (2, 2)
    assert isinstance(cifar.maxpool, nn.Identity)
    assert imagenet.conv1.kernel_size == (7, 7) and isinstance(imagenet.maxpool, nn.MaxPool2d)
    image = torch.randn(1, 3, 32, 32)
    stem_out = lambda m: m.relu(m.bn1(m.conv1(image)))  # noqa: E731
    assert stem_out(cifar).shape[-1] == 34 and stem_out(imagenet).shape[-1] == 16


def test_resnet34_has_resnet34_depth_and_512_features() -> None:
    encoder = build_encoder(EncoderConfig(arch="resnet34"), InputShape(True, 3, 32, 3072))
    assert [len(getattr(encoder, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert encoder.feature_dim == 512 and not any(key.startswith("fc.") for key in encoder.state_dict())


def test_mlp_accepts_vectors() -> None:
    encoder = build_encoder(EncoderConfig(arch="mlp"), FakeDataset(1, None, 20))
    assert encoder(torch.randn(5, 20)).shape == (5, encoder.feature_dim)


@pytest.mark.parametrize("arch", IMAGE_ARCHS)
def test_image_arch_on_vectors_raises_config_error(arch: str) -> None:
    with pytest.raises(ConfigError, match="use 'mlp'"):
        build_encoder(EncoderConfig(arch=arch), FakeDataset(1, None, 20))


def test_cache_key_names_checkpoint_hash_or_seed(tmp_path) -> None:
    checkpoint = tmp_path / "a.pt"
    checkpoint.write_bytes(b"weights")
    with_checkpoint = encoder_cache_key(EncoderConfig(arch="mlp", checkpoint=checkpoint), seed=0)
    assert "random-init" not in with_checkpoint
    assert encoder_cache_key(EncoderConfig(arch="mlp"), seed=3).endswith("random-init-seed-3")
    assert encoder_cache_key(EncoderConfig(arch="mlp"), seed=3) != encoder_cache_key(EncoderConfig(arch="mlp"), 4)
