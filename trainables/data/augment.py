"""Strong augmentation of SCAN (baselines.md): random draws of 14 image operations, then Cutout.

Every operation is a pure function ``op(image, level)`` of a PIL image and a level in [-1, 1]: the
strength is ``|level|`` mapped linearly onto the operation's range (level 0 leaves the image nearly
as it is) and the sign is the sign of ``level``. ``RandomOps`` draws the operations and their levels
(uniform in [-magnitude, magnitude]) from torch's global RNG, so ``torch.manual_seed`` makes it
repeatable; how many operations and how strong is the view policy's choice (``views.ImageViewParams``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from PIL import Image, ImageEnhance, ImageOps
from torch import Tensor

GRAY_FILL = 128
MAX_ROTATION_DEG = 30.0
MAX_SHEAR = 0.1
MAX_TRANSLATE = 0.1  # fraction of the image side
ENHANCE_RANGE = (0.05, 0.95)  # enhancement factor = 1 +- a value in this range
POSTERIZE_BITS = (4, 8)

Operation = Callable[[Image.Image, float], Image.Image]


def _fill(image: Image.Image) -> int | tuple[int, ...]:
    bands = len(image.getbands())
    return GRAY_FILL if bands == 1 else (GRAY_FILL,) * bands


def _affine(image: Image.Image, coefficients: tuple[float, ...]) -> Image.Image:
    return image.transform(image.size, Image.Transform.AFFINE, coefficients, fillcolor=_fill(image))


class Enhance:
    """A PIL ``ImageEnhance`` operation with factor 1 +- (0.05 + 0.9 |level|), signed like ``level``."""

    def __init__(self, kind: type) -> None:
        self.kind = kind

    def __call__(self, image: Image.Image, level: float) -> Image.Image:
        low, high = ENHANCE_RANGE
        return self.kind(image).enhance(1.0 + math.copysign(low + (high - low) * abs(level), level))


def _identity(image: Image.Image, level: float) -> Image.Image:
    return image


def _autocontrast(image: Image.Image, level: float) -> Image.Image:
    return ImageOps.autocontrast(image)


def _equalize(image: Image.Image, level: float) -> Image.Image:
    return ImageOps.equalize(image)


def _rotate(image: Image.Image, level: float) -> Image.Image:
    return image.rotate(MAX_ROTATION_DEG * level, fillcolor=_fill(image))


def _solarize(image: Image.Image, level: float) -> Image.Image:
    """Invert the pixels above 256 (1 - |level|): none at level 0, all at |level| 1."""
    return ImageOps.solarize(image, threshold=min(255, int(256 * (1 - abs(level)))))


def _posterize(image: Image.Image, level: float) -> Image.Image:
    """Keep 8 bits at level 0, down to 4 at |level| 1."""
    low, high = POSTERIZE_BITS
    return ImageOps.posterize(image, max(low, high - int(abs(level) * (high - low + 1))))


def _shear_x(image: Image.Image, level: float) -> Image.Image:
    return _affine(image, (1, MAX_SHEAR * level, 0, 0, 1, 0))


def _shear_y(image: Image.Image, level: float) -> Image.Image:
    return _affine(image, (1, 0, 0, MAX_SHEAR * level, 1, 0))


def _translate_x(image: Image.Image, level: float) -> Image.Image:
    return _affine(image, (1, 0, MAX_TRANSLATE * level * image.size[0], 0, 1, 0))


def _translate_y(image: Image.Image, level: float) -> Image.Image:
    return _affine(image, (1, 0, 0, 0, 1, MAX_TRANSLATE * level * image.size[1]))


STRONG_OPS: dict[str, Operation] = {
    "identity": _identity,
    "autocontrast": _autocontrast,
    "equalize": _equalize,
    "rotate": _rotate,
    "solarize": _solarize,
    "color": Enhance(ImageEnhance.Color),
    "contrast": Enhance(ImageEnhance.Contrast),
    "brightness": Enhance(ImageEnhance.Brightness),
    "sharpness": Enhance(ImageEnhance.Sharpness),
    "shear_x": _shear_x,
    "shear_y": _shear_y,
    "translate_x": _translate_x,
    "translate_y": _translate_y,
    "posterize": _posterize,
}


class RandomOps:
    """Apply ``num_ops`` operations drawn with replacement from ``STRONG_OPS`` less ``excluded``, each at a
    level uniform in [-magnitude, magnitude], to a PIL image."""

    def __init__(self, num_ops: int, magnitude: float = 1.0, excluded: tuple[str, ...] = ()) -> None:
        self.num_ops = num_ops
        self.magnitude = magnitude
        self.ops: list[Operation] = [op for name, op in STRONG_OPS.items() if name not in excluded]

    def __call__(self, image: Image.Image) -> Image.Image:
        indices = torch.randint(len(self.ops), (self.num_ops,)).tolist()
        levels = ((torch.rand(self.num_ops) * 2 - 1) * self.magnitude).tolist()
        for index, level in zip(indices, levels):
            image = self.ops[index](image, level)
        return image


class Cutout:
    """Zero one square hole of side uniform in [1, max_side], centred anywhere, in a [C, H, W] tensor."""

    def __init__(self, max_side: int) -> None:
        self.max_side = max(1, max_side)

    def __call__(self, image: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        u_side, u_y, u_x = torch.rand(3).tolist()
        side = 1 + int(u_side * self.max_side)
        centre_y, centre_x = int(u_y * height), int(u_x * width)
        top, left = centre_y - side // 2, centre_x - side // 2
        image = image.clone()
        image[..., max(0, top) : max(0, top + side), max(0, left) : max(0, left + side)] = 0.0
        return image


CUTOUT_SIDE = {32: 16, 96: 32, 224: 75}


def cutout_side(image_size: int) -> int:
    """SCAN's largest Cutout side L for an image size: 16/32/75 for 32/96/224 px, else half the size."""
    return CUTOUT_SIDE.get(image_size, max(1, image_size // 2))
