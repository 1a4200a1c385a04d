"""Strong augmentation of SCAN (baselines.md), batched: random draws of 14 image operations, then Cutout.

Images are float [n, C, H, W] tensors of pixel values in [0, 255]. Every operation is a pure function
``op(images, levels)`` of such a batch and one level per image in [-1, 1] ([n]): the strength is ``|level|`` mapped
linearly onto the operation's range (level 0 leaves the image nearly as it is) and the sign is the sign of
``level``. The operations follow PIL's (``ImageOps``, ``ImageEnhance``, affine transforms with nearest resampling
and a gray fill), so they mean what SCAN's do. ``RandomOps`` draws each image's operations and levels (uniform in
[-magnitude, magnitude]) from one torch generator (None: torch's global RNG), so a seeded generator makes a batch
repeatable; how many operations and how strong is the view policy's choice (``views.ImageViewParams``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

GRAY_FILL = 128.0
MAX_ROTATION_DEG = 30.0
MAX_SHEAR = 0.1
MAX_TRANSLATE = 0.1  # fraction of the image side
ENHANCE_RANGE = (0.05, 0.95)  # enhancement factor = 1 +- a value in this range
POSTERIZE_BITS = (4, 8)
GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # PIL's "L" conversion
SMOOTH_KERNEL = ((1.0, 1.0, 1.0), (1.0, 5.0, 1.0), (1.0, 1.0, 1.0))  # PIL's ImageFilter.SMOOTH, / 13

Operation = Callable[[Tensor, Tensor], Tensor]


def _per_image(values: Tensor) -> Tensor:
    """[n] -> [n, 1, 1, 1], to broadcast one value per image."""
    return values.view(-1, 1, 1, 1)


def gray(images: Tensor) -> Tensor:
    """[n, 1, H, W] luminance of RGB images (PIL's weights), the image itself for one channel."""
    if images.shape[1] != 3:
        return images
    weights = torch.tensor(GRAY_WEIGHTS, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def warp(images: Tensor, matrix: Tensor, offset: Tensor) -> Tensor:
    """Affine resampling as PIL's ``Image.transform(AFFINE)`` with nearest pixels and a gray fill.

    ``matrix`` [n, 2, 2] and ``offset`` [n, 2] map each output pixel centre (x + 0.5, y + 0.5) to the input
    position it reads, in pixels.
    """
    n, _, height, width = images.shape
    scale = torch.tensor([width / 2, height / 2], dtype=images.dtype, device=images.device)
    # normalised coordinates u = p / scale - 1 (align_corners=False): u_in = S^-1 A S u_out + S^-1 (A s + b - s)
    theta_matrix = matrix * scale.view(1, 1, 2) / scale.view(1, 2, 1)
    theta_offset = (torch.einsum("nij,j->ni", matrix, scale) + offset - scale) / scale
    theta = torch.cat([theta_matrix, theta_offset.unsqueeze(2)], dim=2)
    grid = F.affine_grid(theta, [n, 1, height, width], align_corners=False)
    moved = F.grid_sample(images - GRAY_FILL, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return moved + GRAY_FILL


def _linear(images: Tensor, row: int, column: int, values: Tensor) -> Tensor:
    """Warp by the identity with entry (row, column) of the [2, 3] pixel transform set to ``values`` [n]."""
    n = images.shape[0]
    transform = torch.zeros(n, 2, 3, dtype=images.dtype, device=images.device)
    transform[:, 0, 0] = transform[:, 1, 1] = 1.0
    transform[:, row, column] = values
    return warp(images, transform[:, :, :2], transform[:, :, 2])


def _blend(degenerate: Tensor, images: Tensor, factor: Tensor) -> Tensor:
    """PIL's ``ImageEnhance``: degenerate + factor (images - degenerate), one factor per image."""
    return degenerate + _per_image(factor) * (images - degenerate)


def enhance_factor(levels: Tensor) -> Tensor:
    """1 +- (0.05 + 0.9 |level|), signed like the level."""
    low, high = ENHANCE_RANGE
    return 1.0 + torch.copysign(low + (high - low) * levels.abs(), levels)


def _identity(images: Tensor, levels: Tensor) -> Tensor:
    return images


def _autocontrast(images: Tensor, levels: Tensor) -> Tensor:
    """Stretch each channel's range to [0, 255]; constant channels stay."""
    low = images.amin(dim=(2, 3), keepdim=True)
    high = images.amax(dim=(2, 3), keepdim=True)
    span = high - low
    stretched = (images - low) * (255.0 / span.clamp_min(1.0))
    return torch.where(span > 0, stretched, images)


def _equalize(images: Tensor, levels: Tensor) -> Tensor:
    """PIL's ``ImageOps.equalize`` per channel: a lookup table from the cumulative histogram."""
    n, channels, height, width = images.shape
    pixels = images.round().clamp(0, 255).long().view(n * channels, height * width)
    histogram = torch.zeros(n * channels, 256, dtype=torch.long, device=images.device)
    histogram.scatter_add_(1, pixels, torch.ones_like(pixels))
    last_used = 255 - histogram.flip(1).ne(0).long().argmax(dim=1)
    step = (height * width - histogram.gather(1, last_used.unsqueeze(1))) // 255  # [n C, 1]
    before = histogram.cumsum(dim=1) - histogram
    table = ((step // 2 + before) // step.clamp_min(1)).clamp(max=255)
    equalized = table.gather(1, pixels).to(images.dtype)
    return torch.where(step > 0, equalized, pixels.to(images.dtype)).view_as(images)


def _rotate(images: Tensor, levels: Tensor) -> Tensor:
    """PIL's ``rotate`` by 30 x level degrees (counter-clockwise) about the centre."""
    angle = -torch.deg2rad(MAX_ROTATION_DEG * levels)
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrix = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)
    height, width = images.shape[2:]
    centre = torch.tensor([width / 2, height / 2], dtype=images.dtype, device=images.device)
    return warp(images, matrix, centre - torch.einsum("nij,j->ni", matrix, centre))


def _solarize(images: Tensor, levels: Tensor) -> Tensor:
    """Invert the pixels at or above 256 (1 - |level|): none at level 0, all at |level| 1."""
    threshold = _per_image(torch.floor(256 * (1 - levels.abs())).clamp(max=255))
    return torch.where(images >= threshold, 255.0 - images, images)


def _posterize(images: Tensor, levels: Tensor) -> Tensor:
    """Keep 8 bits at level 0, down to 4 at |level| 1."""
    low, high = POSTERIZE_BITS
    bits = (high - torch.floor(levels.abs() * (high - low + 1))).clamp(min=low)
    step = _per_image(2.0 ** (8 - bits))
    return torch.floor(images.round() / step) * step


def _color(images: Tensor, levels: Tensor) -> Tensor:
    return _blend(gray(images), images, enhance_factor(levels))


def _contrast(images: Tensor, levels: Tensor) -> Tensor:
    mean = gray(images).mean(dim=(1, 2, 3), keepdim=True).round()
    return _blend(mean, images, enhance_factor(levels))


def _brightness(images: Tensor, levels: Tensor) -> Tensor:
    return _blend(torch.zeros_like(images), images, enhance_factor(levels))


def _sharpness(images: Tensor, levels: Tensor) -> Tensor:
    """Blend with PIL's SMOOTH filter of the image (border pixels kept)."""
    channels = images.shape[1]
    kernel = torch.tensor(SMOOTH_KERNEL, dtype=images.dtype, device=images.device) / 13.0
    smooth = F.conv2d(images, kernel.expand(channels, 1, 3, 3), groups=channels)
    degenerate = images.clone()
    degenerate[..., 1:-1, 1:-1] = smooth
    return _blend(degenerate, images, enhance_factor(levels))


def _shear_x(images: Tensor, levels: Tensor) -> Tensor:
    return _linear(images, 0, 1, MAX_SHEAR * levels)


def _shear_y(images: Tensor, levels: Tensor) -> Tensor:
    return _linear(images, 1, 0, MAX_SHEAR * levels)


def _translate_x(images: Tensor, levels: Tensor) -> Tensor:
    return _linear(images, 0, 2, MAX_TRANSLATE * levels * images.shape[3])


def _translate_y(images: Tensor, levels: Tensor) -> Tensor:
    return _linear(images, 1, 2, MAX_TRANSLATE * levels * images.shape[2])


STRONG_OPS: dict[str, Operation] = {
    "identity": _identity,
    "autocontrast": _autocontrast,
    "equalize": _equalize,
    "rotate": _rotate,
    "solarize": _solarize,
    "color": _color,
    "contrast": _contrast,
    "brightness": _brightness,
    "sharpness": _sharpness,
    "shear_x": _shear_x,
    "shear_y": _shear_y,
    "translate_x": _translate_x,
    "translate_y": _translate_y,
    "posterize": _posterize,
}


def uniform(shape: tuple[int, ...], generator: torch.Generator | None, low: float = 0.0, high: float = 1.0) -> Tensor:
    """Uniform draws in [low, high) from ``generator`` (None: torch's global RNG), on the CPU."""
    return low + (high - low) * torch.rand(shape, generator=generator)


class RandomOps:
    """Apply ``num_ops`` operations to each image, drawn with replacement from ``STRONG_OPS`` less ``excluded``, each
    at a level uniform in [-magnitude, magnitude]; pixels are rounded to integers in [0, 255] after each, as PIL's."""

    def __init__(self, num_ops: int, magnitude: float = 1.0, excluded: tuple[str, ...] = ()) -> None:
        self.num_ops = num_ops
        self.magnitude = magnitude
        self.ops: list[Operation] = [op for name, op in STRONG_OPS.items() if name not in excluded]

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """[n, C, H, W] pixels in [0, 255] -> the same shape, each image through its own drawn operations."""
        n = images.shape[0]
        chosen = torch.randint(len(self.ops), (n, self.num_ops), generator=generator).to(images.device)
        levels = uniform((n, self.num_ops), generator, -self.magnitude, self.magnitude).to(images.device, images.dtype)
        images = images.clone()
        for slot in range(self.num_ops):
            for number, op in enumerate(self.ops):
                rows = torch.nonzero(chosen[:, slot] == number).flatten()
                if len(rows):
                    images[rows] = op(images[rows], levels[rows, slot]).round().clamp(0, 255)
        return images


class Cutout:
    """Zero one square hole per image of side uniform in [1, max_side], centred anywhere, in [n, C, H, W]."""

    def __init__(self, max_side: int) -> None:
        self.max_side = max(1, max_side)

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        n, _, height, width = images.shape
        u_side, u_y, u_x = uniform((3, n), generator).to(images.device)
        side = 1 + torch.floor(u_side * self.max_side)
        top = torch.floor(u_y * height) - torch.div(side, 2, rounding_mode="floor")
        left = torch.floor(u_x * width) - torch.div(side, 2, rounding_mode="floor")
        rows = torch.arange(height, device=images.device).view(1, -1)
        columns = torch.arange(width, device=images.device).view(1, -1)
        in_rows = (rows >= top.view(-1, 1)) & (rows < (top + side).view(-1, 1))
        in_columns = (columns >= left.view(-1, 1)) & (columns < (left + side).view(-1, 1))
        hole = (in_rows.unsqueeze(2) & in_columns.unsqueeze(1)).unsqueeze(1)
        return images.masked_fill(hole, 0.0)


CUTOUT_SIDE = {32: 16, 96: 32, 224: 75}


def cutout_side(image_size: int) -> int:
    """SCAN's largest Cutout side L for an image size: 16/32/75 for 32/96/224 px, else half the size."""
    return CUTOUT_SIDE.get(image_size, max(1, image_size // 2))

