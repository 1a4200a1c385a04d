"""The views of baselines.md: ``val``, ``weak`` and ``strong``, for images and for vectors.

Images (PIL in, normalised float tensor [C, S, S] out):
    val: centre crop to S, to tensor, normalise.
    weak: random resized crop to S, horizontal flip, to tensor, normalise.
    strong: horizontal flip, random resized crop, 4 random operations (``augment.STRONG_OPS``),
        to tensor, normalise, Cutout of one hole with side up to L (``augment.cutout_side``).
Vectors (standardised float tensor [D] in and out):
    val: identity.
    weak: Gaussian noise (std 0.1) then feature dropout (10 % of features zeroed).
    strong: Gaussian noise (std 0.2) then feature dropout (30 % of features zeroed).
All randomness comes from torch's global RNG, so ``torch.manual_seed`` makes views repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision import transforms

from trainables.data.augment import Cutout, RandomOps, cutout_side
from trainables.registry import Registry

CROP_SCALE = (0.2, 1.0)
NUM_STRONG_OPS = 4

View = Callable[[object], Tensor]


@dataclass(frozen=True)
class ViewSettings:
    """What a view needs to know about the data: crop size and per-channel normalisation."""

    image_size: int | None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()


IMAGE_VIEWS: Registry[Callable[[ViewSettings], View]] = Registry("image view")
VECTOR_VIEWS: Registry[Callable[[ViewSettings], View]] = Registry("vector view")


class ToNormalisedTensor:
    """PIL image [H, W] or [H, W, C] uint8 -> float32 [C, H, W], (pixel / 255 - mean) / std per channel.

    The same result as ``ToTensor`` then ``Normalize``, in one step (it matters on tiny images).
    """

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, image: Image.Image) -> Tensor:
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32))
        channels_first = pixels.view(*pixels.shape[:2], -1).permute(2, 0, 1)
        return (channels_first / 255.0 - self.mean) / self.std


def _to_normalised_tensor(settings: ViewSettings) -> list:
    return [ToNormalisedTensor(settings.mean, settings.std)]


@IMAGE_VIEWS.register("val")
def image_val(settings: ViewSettings) -> View:
    return transforms.Compose([transforms.CenterCrop(settings.image_size), *_to_normalised_tensor(settings)])


@IMAGE_VIEWS.register("weak")
def image_weak(settings: ViewSettings) -> View:
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(settings.image_size, scale=CROP_SCALE),
            transforms.RandomHorizontalFlip(),
            *_to_normalised_tensor(settings),
        ]
    )


@IMAGE_VIEWS.register("strong")
def image_strong(settings: ViewSettings) -> View:
    return transforms.Compose(
        [
            transforms.RandomHorizontalFlip(),
            transforms.RandomResizedCrop(settings.image_size, scale=CROP_SCALE),
            RandomOps(NUM_STRONG_OPS),
            *_to_normalised_tensor(settings),
            Cutout(cutout_side(settings.image_size)),
        ]
    )


class NoisyDropout:
    """x + N(0, noise_std^2), then each feature zeroed with probability ``drop``; x is [D]."""

    def __init__(self, noise_std: float, drop: float) -> None:
        self.noise_std = noise_std
        self.drop = drop

    def __call__(self, vector: Tensor) -> Tensor:
        noisy = vector + self.noise_std * torch.randn(vector.shape)
        return noisy * (torch.rand(vector.shape) >= self.drop)


def _identity(vector: Tensor) -> Tensor:
    return vector


@VECTOR_VIEWS.register("val")
def vector_val(settings: ViewSettings) -> View:
    return _identity


@VECTOR_VIEWS.register("weak")
def vector_weak(settings: ViewSettings) -> View:
    return NoisyDropout(noise_std=0.1, drop=0.1)


@VECTOR_VIEWS.register("strong")
def vector_strong(settings: ViewSettings) -> View:
    return NoisyDropout(noise_std=0.2, drop=0.3)


def build_views(names: tuple[str, ...], is_image: bool, settings: ViewSettings) -> dict[str, View]:
    """Name -> transform for each requested view; unknown names raise ConfigError."""
    registry = IMAGE_VIEWS if is_image else VECTOR_VIEWS
    return {name: registry.get(name)(settings) for name in names}
