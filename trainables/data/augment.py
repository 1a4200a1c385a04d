"""Strong augmentation of SCAN (baselines.md): 4 of 14 image operations, then Cutout.

Each operation draws its own magnitude uniformly from its range with a random sign, using torch's
global RNG so that ``torch.manual_seed`` makes the augmentation repeatable.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image, ImageEnhance, ImageOps
from torch import Tensor

GRAY_FILL = 128
MAX_ROTATION_DEG = 30.0
MAX_SHEAR = 0.1
MAX_TRANSLATE = 0.1  # fraction of the image side
ENHANCE_RANGE = (0.05, 0.95)  # enhancement factor = 1 +- a value drawn from this range
POSTERIZE_BITS = (4, 8)


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()


def _signed(low: float, high: float) -> float:
    """A magnitude uniform in [low, high] with a random sign."""
    sign = 1.0 if torch.rand(()).item() < 0.5 else -1.0
    return sign * _uniform(low, high)


def _fill(image: Image.Image) -> int | tuple[int, ...]:
    return GRAY_FILL if len(image.getbands()) == 1 else (GRAY_FILL,) * len(image.getbands())


def _affine(image: Image.Image, coefficients: tuple[float, ...]) -> Image.Image:
    return image.transform(image.size, Image.Transform.AFFINE, coefficients, fillcolor=_fill(image))


def _enhancer(kind: type) -> Callable[[Image.Image], Image.Image]:
    def enhance(image: Image.Image) -> Image.Image:
        return kind(image).enhance(1.0 + _signed(*ENHANCE_RANGE))

    return enhance


def _rotate(image: Image.Image) -> Image.Image:
    return image.rotate(_signed(0.0, MAX_ROTATION_DEG), fillcolor=_fill(image))


def _solarize(image: Image.Image) -> Image.Image:
    return ImageOps.solarize(image, threshold=int(_uniform(0, 256)))


def _posterize(image: Image.Image) -> Image.Image:
    low, high = POSTERIZE_BITS
    return ImageOps.posterize(image, int(torch.randint(low, high + 1, ()).item()))


def _shear_x(image: Image.Image) -> Image.Image:
    return _affine(image, (1, _signed(0.0, MAX_SHEAR), 0, 0, 1, 0))


def _shear_y(image: Image.Image) -> Image.Image:
    return _affine(image, (1, 0, 0, _signed(0.0, MAX_SHEAR), 1, 0))


def _translate_x(image: Image.Image) -> Image.Image:
    return _affine(image, (1, 0, _signed(0.0, MAX_TRANSLATE) * image.size[0], 0, 1, 0))


def _translate_y(image: Image.Image) -> Image.Image:
    return _affine(image, (1, 0, 0, 0, 1, _signed(0.0, MAX_TRANSLATE) * image.size[1]))


def _identity(image: Image.Image) -> Image.Image:
    return image


STRONG_OPS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "identity": _identity,
    "autocontrast": ImageOps.autocontrast,
    "equalize": ImageOps.equalize,
    "rotate": _rotate,
    "solarize": _solarize,
    "color": _enhancer(ImageEnhance.Color),
    "contrast": _enhancer(ImageEnhance.Contrast),
    "brightness": _enhancer(ImageEnhance.Brightness),
    "sharpness": _enhancer(ImageEnhance.Sharpness),
    "shear_x": _shear_x,
    "shear_y": _shear_y,
    "translate_x": _translate_x,
    "translate_y": _translate_y,
    "posterize": _posterize,
}


class RandomOps:
    """Apply ``num_ops`` operations drawn with replacement from ``STRONG_OPS`` to a PIL image."""

    def __init__(self, num_ops: int = 4) -> None:
        self.num_ops = num_ops
        self.ops = list(STRONG_OPS.values())

    def __call__(self, image: Image.Image) -> Image.Image:
        for index in torch.randint(len(self.ops), (self.num_ops,)).tolist():
            image = self.ops[index](image)
        return image


class Cutout:
    """Zero one square hole of side uniform in [1, max_side], centred anywhere, in a [C, H, W] tensor."""

    def __init__(self, max_side: int) -> None:
        self.max_side = max(1, max_side)

    def __call__(self, image: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        side = int(torch.randint(1, self.max_side + 1, ()).item())
        centre_y = int(torch.randint(height, ()).item())
        centre_x = int(torch.randint(width, ()).item())
        top, left = max(0, centre_y - side // 2), max(0, centre_x - side // 2)
        bottom, right = min(height, centre_y - side // 2 + side), min(width, centre_x - side // 2 + side)
        image = image.clone()
        image[..., top:bottom, left:right] = 0.0
        return image


CUTOUT_SIDE = {32: 16, 96: 32, 224: 75}


def cutout_side(image_size: int) -> int:
    """Largest Cutout side L for an image size: 16/32/75 for 32/96/224 px, else half the size."""
    return CUTOUT_SIDE.get(image_size, max(1, image_size // 2))
