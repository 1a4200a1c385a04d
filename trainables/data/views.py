"""The views of baselines.md: ``val``, ``weak`` and ``strong``, for images and for vectors, within a view policy.

Each dataset registers a ``ViewPolicy``: whether mirror images keep the class, from which image size SCAN's full
strong views keep it, and how much noise its vectors take. ``ViewPolicy.for_image`` turns it into the numbers of
one image size (``ImageViewParams``) by the strength tiers below; MoCo pre-training (``pretrain.augment``) takes
its mirroring from the same object. K-means ACC on pre-trained small_cnn features (``benchmarks/view_sanity.py``)
set the tiers: SCAN's full views keep 39% (weak) and 25% (strong) of the val-view ACC on 8 px digits, and 77% and
38% on COIL-20 at 32 px.
    FULL (at least ``full_strength_from`` px; CIFAR, on which SCAN chose them, from 32 px): crop scale (0.2, 1),
        4 strong operations at full magnitude, Cutout with SCAN's side.
    SMALL (32 px up to ``full_strength_from``): crop scale (0.6, 1), 2 operations at magnitude 0.3 (no
        solarize), Cutout of a quarter of the side.
    GLYPH (below 32 px: 8 px digits, 28 px MNIST): crop scale (0.7, 1), otherwise as SMALL.
Images (PIL in, normalised float tensor [C, S, S] out):
    val: centre crop to S, to tensor, normalise.
    weak: random resized crop to S, horizontal flip if the policy allows, to tensor, normalise.
    strong: the weak view's crop and flip, the policy's random operations (``augment.STRONG_OPS``), to tensor,
        normalise, Cutout of one hole with side up to the policy's (``augment.cutout_side``).
Vectors (float tensor [D] in and out, in the units of the data):
    val: identity.
    weak / strong: Gaussian noise with std ``noise`` x each feature's std over the dataset, then feature dropout
        (a fraction ``drop`` of the features set to their mean).
All randomness comes from torch's global RNG, so ``torch.manual_seed`` makes views repeatable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision import transforms

from trainables.data.augment import Cutout, RandomOps, cutout_side
from trainables.registry import Registry

SMALL_IMAGE = 32
FULL_STRENGTH_FROM = 64


@dataclass(frozen=True)
class Strength:
    """How far a tier's views move an image: crop area scale, strong operations, their magnitude, the operations
    left out, and the largest Cutout side as a fraction of the image side (None: SCAN's, ``augment.cutout_side``)."""

    crop_scale: tuple[float, float]
    strong_ops: int
    strong_magnitude: float
    cutout_fraction: float | None
    excluded_ops: tuple[str, ...] = ()


FULL = Strength(crop_scale=(0.2, 1.0), strong_ops=4, strong_magnitude=1.0, cutout_fraction=None)
# Solarize at any magnitude inverts the brightest pixels first, which on small dark-background images are the
# object itself (digits: strong-view ACC 37% with solarize alone against 75% with identity).
SMALL = Strength((0.6, 1.0), strong_ops=2, strong_magnitude=0.3, cutout_fraction=0.25, excluded_ops=("solarize",))
GLYPH = Strength((0.7, 1.0), strong_ops=2, strong_magnitude=0.3, cutout_fraction=0.25, excluded_ops=("solarize",))

View = Callable[[object], Tensor]


@dataclass(frozen=True)
class ImageViewParams:
    """The numbers of a policy at one image size: mirror or not, random-resized-crop area scale, the number and
    magnitude (levels in [-m, m]) of strong operations, the largest Cutout side in pixels (0: none) and the
    operations left out."""

    flip: bool
    crop_scale: tuple[float, float]
    strong_ops: int
    strong_magnitude: float
    cutout_side: int
    excluded_ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoisyDropoutParams:
    """Gaussian noise std in units of each feature's std, and the fraction of features dropped."""

    noise: float
    drop: float


@dataclass(frozen=True)
class ViewPolicy:
    """Registered with each dataset: what its training views may do and keep the class.

    ``mirror``: whether a mirror image is the same class (True for objects and scenes, False for glyphs); None
    when the data is unknown: mirror only images of at least SMALL_IMAGE px, since smaller ones are often glyphs.
    ``full_strength_from``: the image side from which SCAN's full strong views apply (see the module docstring).
    """

    mirror: bool | None = None
    full_strength_from: int = FULL_STRENGTH_FROM
    weak_vector: NoisyDropoutParams = NoisyDropoutParams(noise=0.1, drop=0.1)
    strong_vector: NoisyDropoutParams = NoisyDropoutParams(noise=0.2, drop=0.3)

    def mirrors(self, size: int) -> bool:
        """Whether views (and MoCo pre-training) of ``size`` px images flip them horizontally."""
        return size >= SMALL_IMAGE if self.mirror is None else self.mirror

    def strength(self, size: int) -> Strength:
        if size >= self.full_strength_from:
            return FULL
        return SMALL if size >= SMALL_IMAGE else GLYPH

    def for_image(self, size: int) -> ImageViewParams:
        """The view numbers at ``size`` px (see the module docstring)."""
        strength = self.strength(size)
        fraction = strength.cutout_fraction
        return ImageViewParams(
            flip=self.mirrors(size),
            crop_scale=strength.crop_scale,
            strong_ops=strength.strong_ops,
            strong_magnitude=strength.strong_magnitude,
            cutout_side=cutout_side(size) if fraction is None else int(size * fraction),
            excluded_ops=strength.excluded_ops,
        )


@dataclass(frozen=True)
class ViewSettings:
    """What a view needs to know about the data: crop size, per-channel normalisation, the dataset's policy and,
    for vectors, each feature's std over the dataset ([D])."""

    image_size: int | None
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    policy: ViewPolicy = ViewPolicy()
    feature_std: Tensor | None = field(default=None, compare=False)

    @property
    def image(self) -> ImageViewParams:
        return self.policy.for_image(self.image_size)


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


def _crop_and_flip(settings: ViewSettings) -> list:
    params = settings.image
    crop = [transforms.RandomResizedCrop(settings.image_size, scale=params.crop_scale)]
    return [*crop, transforms.RandomHorizontalFlip()] if params.flip else crop


@IMAGE_VIEWS.register("weak")
def image_weak(settings: ViewSettings) -> View:
    return transforms.Compose([*_crop_and_flip(settings), *_to_normalised_tensor(settings)])


@IMAGE_VIEWS.register("strong")
def image_strong(settings: ViewSettings) -> View:
    params = settings.image
    cutout = [Cutout(params.cutout_side)] if params.cutout_side > 0 else []
    return transforms.Compose(
        [
            *_crop_and_flip(settings),
            RandomOps(params.strong_ops, params.strong_magnitude, params.excluded_ops),
            *_to_normalised_tensor(settings),
            *cutout,
        ]
    )


class NoisyDropout:
    """x + N(0, (noise * feature_std)^2), then each feature set to 0 (its mean) with probability ``drop``; x is
    [D], ``feature_std`` [D]."""

    def __init__(self, params: NoisyDropoutParams, feature_std: Tensor) -> None:
        self.noise_std = params.noise * feature_std
        self.drop = params.drop

    def __call__(self, vector: Tensor) -> Tensor:
        noisy = vector + self.noise_std * torch.randn(vector.shape)
        return noisy * (torch.rand(vector.shape) >= self.drop)


def _identity(vector: Tensor) -> Tensor:
    return vector


def _feature_std(settings: ViewSettings) -> Tensor:
    return settings.feature_std if settings.feature_std is not None else torch.tensor(1.0)


@VECTOR_VIEWS.register("val")
def vector_val(settings: ViewSettings) -> View:
    return _identity


@VECTOR_VIEWS.register("weak")
def vector_weak(settings: ViewSettings) -> View:
    return NoisyDropout(settings.policy.weak_vector, _feature_std(settings))


@VECTOR_VIEWS.register("strong")
def vector_strong(settings: ViewSettings) -> View:
    return NoisyDropout(settings.policy.strong_vector, _feature_std(settings))


def build_views(names: tuple[str, ...], is_image: bool, settings: ViewSettings) -> dict[str, View]:
    """Name -> transform for each requested view; unknown names raise ConfigError."""
    registry = IMAGE_VIEWS if is_image else VECTOR_VIEWS
    return {name: registry.get(name)(settings) for name in names}
