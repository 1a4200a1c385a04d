"""Backbones chosen by name from ``ENCODERS``; each maps a batch to [B, feature_dim] features.

A registered builder takes ``(config: EncoderConfig, shape: InputShape)`` and returns an ``nn.Module`` with a
``feature_dim`` attribute. ``build_encoder`` is the entry point: it checks the arch fits the data and loads
``config.checkpoint`` when one is set.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainables.config import EncoderConfig
from trainables.errors import ConfigError
from trainables.models import ENCODERS
from trainables.models.encoder_checkpoints import file_hash, load_encoder_checkpoint


@dataclass(frozen=True)
class InputShape:
    """What an encoder must accept: images [B, channels, size, size] or vectors [B, input_dim]."""

    is_image: bool
    channels: int
    image_size: int | None
    input_dim: int

    @classmethod
    def of(cls, dataset: Any) -> InputShape:
        """The input shape of a ClusteringDataset (``is_image``, ``num_channels``, ``image_size``, ``input_dim``)."""
        return cls(
            is_image=bool(dataset.is_image),
            channels=int(dataset.num_channels),
            image_size=dataset.image_size,
            input_dim=int(dataset.input_dim),
        )


def _require_images(arch: str, shape: InputShape) -> None:
    if not shape.is_image:
        raise ConfigError(f"encoder.arch {arch!r} needs image data but the dataset holds vectors; use 'mlp'")


def _torchvision_resnet(name: str, config: EncoderConfig, shape: InputShape) -> nn.Module:
    """torchvision's ResNet ``name`` with ``fc`` removed; the ``cifar`` stem is a 3x3 stride-1 conv1 without max-pool.
    torchvision is imported here: it costs a trial that does not use it 2 s of start-up."""
    from torchvision import models

    _require_images(config.arch, shape)
    model = getattr(models, name)(weights=None)
    if config.stem == "cifar":
        model.conv1 = nn.Conv2d(shape.channels, 64, 3, stride=1, padding=config.stem_padding, bias=False)
        model.maxpool = nn.Identity()
    elif shape.channels != 3:
        model.conv1 = nn.Conv2d(shape.channels, 64, 7, stride=2, padding=3, bias=False)
    model.feature_dim = model.fc.in_features
    model.fc = nn.Identity()
    return model


@ENCODERS.register("resnet18")
def build_resnet18(config: EncoderConfig, shape: InputShape) -> nn.Module:
    """torchvision ResNet-18 backbone, 512-d features."""
    return _torchvision_resnet("resnet18", config, shape)


@ENCODERS.register("resnet34")
def build_resnet34(config: EncoderConfig, shape: InputShape) -> nn.Module:
    """torchvision ResNet-34 backbone, 512-d features (the paper's encoder)."""
    return _torchvision_resnet("resnet34", config, shape)


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """Three 3x3 conv-BN-ReLU blocks (32, 64, 128 channels), 2x2 max-pools between them, global average pool.

    Fast on CPU for tiny images (8x8 digits, 32x32 COIL-20); ``forward``: [B, C, H, W] -> [B, 128].
    """

    def __init__(self, in_channels: int, widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        self.block1 = _conv_block(in_channels, widths[0])
        self.block2 = _conv_block(widths[0], widths[1])
        self.block3 = _conv_block(widths[1], widths[2])
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.feature_dim = widths[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.block1(x))
        x = self.pool(self.block2(x))
        return self.block3(x).mean(dim=(2, 3))


@ENCODERS.register("small_cnn")
def build_small_cnn(config: EncoderConfig, shape: InputShape) -> nn.Module:
    """SmallCNN for tiny images."""
    _require_images(config.arch, shape)
    return SmallCNN(shape.channels)


class MLPEncoder(nn.Module):
    """Flatten, then two Linear-BN-ReLU layers; ``forward``: [B, ...] -> [B, feature_dim]."""

    def __init__(self, input_dim: int, hidden_dim: int = 256, feature_dim: int = 128) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(input_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, feature_dim),
            nn.BatchNorm1d(feature_dim),
            nn.ReLU(inplace=True),
        )
        self.feature_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@ENCODERS.register("mlp")
def build_mlp(config: EncoderConfig, shape: InputShape) -> nn.Module:
    """MLPEncoder for vector data; images are flattened, with a warning."""
    if shape.is_image:
        warnings.warn(
            f"encoder.arch 'mlp' flattens each {shape.channels}x{shape.image_size}x{shape.image_size} image into "
            f"a {shape.input_dim}-d vector, ignoring its spatial layout; use an image arch such as small_cnn to keep it",
            stacklevel=2,
        )
    return MLPEncoder(shape.input_dim)


def build_encoder(config: EncoderConfig, dataset: Any) -> nn.Module:
    """Build ``config.arch`` for ``dataset`` (or an ``InputShape``) and load ``config.checkpoint`` if set.

    Returns:
        An ``nn.Module`` with ``feature_dim`` whose ``forward`` maps a batch to [B, feature_dim].

    Raises:
        ConfigError: unknown arch, or an image arch on vector data.
        CheckpointError: the checkpoint is missing, unreadable or does not fit the arch.
    """
    shape = dataset if isinstance(dataset, InputShape) else InputShape.of(dataset)
    encoder = ENCODERS.get(config.arch)(config, shape)
    if config.checkpoint is not None:
        load_encoder_checkpoint(encoder, config.checkpoint)
    return encoder


def encoder_cache_key(config: EncoderConfig, seed: int) -> str:
    """Identifies the weights for the feature cache: arch + stem + checkpoint sha256, or the init seed."""
    weights = file_hash(config.checkpoint) if config.checkpoint is not None else f"random-init-seed-{seed}"
    return f"{config.arch}/{config.stem}-{config.stem_padding}/{weights}"
