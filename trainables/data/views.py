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
Every view works on a batch at once, with tensor operations (no per-sample PIL), so that a sample scored by DSS
costs a fraction of a trained one.
Images (uint8 pixels [n, C, H, W] in, normalised float32 [n, C, S, S] out):
    val: centre crop to S, normalise.
    weak: random resized crop to S (per image), horizontal flip if the policy allows, normalise.
    strong: the weak view's crop and flip, the policy's random operations (``augment.STRONG_OPS``), normalise,
        Cutout of one hole with side up to the policy's (``augment.cutout_side``).
Vectors (float [n, D] in and out, in the units of the data):
    val: identity.
    weak / strong: Gaussian noise with std ``noise`` x each feature's std over the dataset, then feature dropout
        (a fraction ``drop`` of the features set to their mean).
All randomness comes from the ``generator`` passed to a view (None: torch's global RNG), so the same seeded
generator and the same batch give bitwise the same views.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from trainables.data.augment import Cutout, RandomOps, cutout_side, uniform
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

CROP_RATIO = (3 / 4, 4 / 3)  # RandomResizedCrop's aspect ratios

View = Callable[..., Tensor]
"""``view(samples, generator=None)``: a batch of stored samples (uint8 pixels [n, C, H, W] or float vectors
[n, D]) -> the view of each, float32 ([n, C, S, S] or [n, D]); randomness from ``generator`` (None: global RNG)."""


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


class Normalise:
    """Pixels in [0, 255] [n, C, H, W] -> (pixel / 255 - mean) / std per channel, float32."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def __call__(self, pixels: Tensor) -> Tensor:
        return (pixels.to(torch.float32) / 255.0 - self.mean.to(pixels.device)) / self.std.to(pixels.device)


def centre_crop(pixels: Tensor, size: int) -> Tensor:
    """The central ``size`` x ``size`` square of [n, C, H, W] (offsets rounded as torchvision's CenterCrop)."""
    height, width = pixels.shape[2:]
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return pixels[..., top : top + size, left : left + size]


class CropAndFlip:
    """torchvision's RandomResizedCrop (integer boxes of area ``scale`` x the image's and aspect ratio in
    ``ratio``, 10 tries, else the whole image) with bilinear resizing to ``size``, then a horizontal flip with
    probability 1/2 when ``flip``; one crop per image of [n, C, H, W] pixels, as float [n, C, size, size]."""

    TRIES = 10

    def __init__(self, size: int, scale: tuple[float, float], flip: bool, ratio: tuple[float, float] = CROP_RATIO):
        self.size = size
        self.scale = scale
        self.flip = flip
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def boxes(self, n: int, height: int, width: int, generator: torch.Generator | None) -> tuple[Tensor, ...]:
        """Per image (top, left, box height, box width) [n] float64 pixel counts."""
        area = height * width * uniform((n, self.TRIES), generator, *self.scale).double()
        ratio = torch.exp(uniform((n, self.TRIES), generator, *self.log_ratio).double())
        box_w = torch.round(torch.sqrt(area * ratio))
        box_h = torch.round(torch.sqrt(area / ratio))
        fits = (box_w > 0) & (box_w <= width) & (box_h > 0) & (box_h <= height)
        first = fits.long().argmax(dim=1, keepdim=True)
        found = fits.any(dim=1)
        box_w = torch.where(found, box_w.gather(1, first).squeeze(1), float(width))
        box_h = torch.where(found, box_h.gather(1, first).squeeze(1), float(height))
        u_top, u_left = uniform((2, n), generator).double()
        return torch.floor(u_top * (height - box_h + 1)), torch.floor(u_left * (width - box_w + 1)), box_h, box_w

    def __call__(self, pixels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n, channels, height, width = pixels.shape
        top, left, box_h, box_w = self.boxes(n, height, width, generator)
        mirror = uniform((n,), generator) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool)
        theta = torch.zeros(n, 2, 3, dtype=torch.float64)
        theta[:, 0, 0] = torch.where(mirror, -1.0, 1.0) * box_w / width
        theta[:, 0, 2] = (2 * left + box_w) / width - 1
        theta[:, 1, 1] = box_h / height
        theta[:, 1, 2] = (2 * top + box_h) / height - 1
        theta = theta.to(pixels.device, torch.float32)
        grid = F.affine_grid(theta, [n, channels, self.size, self.size], align_corners=False)
        images = pixels.to(torch.float32)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class ImageView:
    """A batched image view: uint8 pixels [n, C, H, W] -> float32 [n, C, S, S]: a crop (the val view's centre crop
    without ``crop``), the strong operations when given, normalisation, Cutout when given."""

    def __init__(self, settings: ViewSettings, crop: CropAndFlip | None = None, ops: RandomOps | None = None,
                 cutout: Cutout | None = None) -> None:
        self.size = settings.image_size
        self.normalise = Normalise(settings.mean, settings.std)
        self.crop, self.ops, self.cutout = crop, ops, cutout

    def __call__(self, pixels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        images = centre_crop(pixels, self.size) if self.crop is None else self.crop(pixels, generator)
        if self.ops is not None:
            images = self.ops(images.round().clamp(0, 255), generator)
        images = self.normalise(images)
        return images if self.cutout is None else self.cutout(images, generator)


def _crop_and_flip(settings: ViewSettings) -> CropAndFlip:
    params = settings.image
    return CropAndFlip(settings.image_size, params.crop_scale, params.flip)


@IMAGE_VIEWS.register("val")
def image_val(settings: ViewSettings) -> View:
    return ImageView(settings)


@IMAGE_VIEWS.register("weak")
def image_weak(settings: ViewSettings) -> View:
    return ImageView(settings, crop=_crop_and_flip(settings))


@IMAGE_VIEWS.register("strong")
def image_strong(settings: ViewSettings) -> View:
    params = settings.image
    ops = RandomOps(params.strong_ops, params.strong_magnitude, params.excluded_ops)
    cutout = Cutout(params.cutout_side) if params.cutout_side > 0 else None
    return ImageView(settings, crop=_crop_and_flip(settings), ops=ops, cutout=cutout)


class NoisyDropout:
    """x + N(0, (noise * feature_std)^2), then each feature set to 0 (its mean) with probability ``drop``; x is
    [n, D], ``feature_std`` [D]."""

    def __init__(self, params: NoisyDropoutParams, feature_std: Tensor) -> None:
        self.noise_std = params.noise * feature_std
        self.drop = params.drop

    def __call__(self, vectors: Tensor, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(vectors.shape, generator=generator).to(vectors.device)
        kept = uniform(tuple(vectors.shape), generator).to(vectors.device) >= self.drop
        return (vectors + self.noise_std.to(vectors.device) * noise) * kept


def _identity(vectors: Tensor, generator: torch.Generator | None = None) -> Tensor:
    return vectors


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
    """Name -> batched view for each requested view; unknown names raise ConfigError."""
    registry = IMAGE_VIEWS if is_image else VECTOR_VIEWS
    return {name: registry.get(name)(settings) for name in names}
