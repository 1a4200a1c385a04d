"""MoCo-v2 augmentations (He et al. 2020; Chen et al. 2020), batched on tensors and scaled for tiny images.

Works on a val-view batch [B, C, H, W]: pixels are first mapped back to [0, 1] with the per-channel range of the
dataset (the val view is an affine per-channel normalisation), augmented per sample, and mapped back. Random
resized crop + horizontal flip (where the dataset's view policy mirrors) are one batched affine resampling; colour jitter
(brightness, contrast, saturation; hue is left out), random grayscale (colour images only) and Gaussian blur
(images of at least 32 px, sigma scaled by size / 224) follow with MoCo-v2's probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from trainables.data.views import SMALL_IMAGE, ViewPolicy

GRAY_WEIGHTS = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths and probabilities of the MoCo-v2 augmentations; ``for_image_size`` scales them."""

    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_prob: float = 0.5
    jitter_prob: float = 0.8
    jitter_strength: tuple[float, float, float] = (0.4, 0.4, 0.4)
    grayscale_prob: float = 0.2
    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel: int = 23

    @classmethod
    def for_image_size(cls, size: int, channels: int, flip: bool | None = None) -> AugmentConfig:
        """MoCo-v2 defaults for 224 px, scaled: gentler crops below SMALL_IMAGE px, blur scaled by size/224 and
        dropped below SMALL_IMAGE px, no grayscale on single-channel images.

        ``flip``: the dataset's ``ViewPolicy.mirrors(size)``; None mirrors as a policy for unknown data does (images
        of at least SMALL_IMAGE px only: smaller ones are often glyphs such as digits, whose mirror image is often
        another class; K-means ACC on pre-trained digits features: 80% with, 90% without).
        """
        scale = size / 224
        kernel = max(3, int(23 * scale) | 1)
        small = size < SMALL_IMAGE
        return cls(
            crop_scale=(0.5, 1.0) if small else (0.2, 1.0),
            flip_prob=0.5 if ViewPolicy(mirror=flip).mirrors(size) else 0.0,
            grayscale_prob=0.2 if channels == 3 else 0.0,
            blur_prob=0.0 if small else 0.5,
            blur_sigma=(0.1 * scale, 2.0 * scale),
            blur_kernel=kernel,
        )


class BatchAugment:
    """Callable: [B, C, H, W] val-view batch -> one independently augmented view of the same shape.

    Args:
        low, high: [C] per-channel minimum and maximum of the val view over the dataset (pixel 0 and 1).
    """

    def __init__(self, config: AugmentConfig, low: torch.Tensor, high: torch.Tensor) -> None:
        self.config = config
        self.low = low.view(1, -1, 1, 1)
        self.span = (high - low).clamp_min(1e-6).view(1, -1, 1, 1)

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment each image independently; ``generator`` (CPU or on the images' device) makes it repeatable."""
        low, span = self.low.to(images.device), self.span.to(images.device)
        pixels = ((images - low) / span).clamp(0, 1)
        pixels = self._crop_and_flip(pixels, generator)
        pixels = self._jitter(pixels, generator)
        pixels = self._grayscale(pixels, generator)
        pixels = self._blur(pixels, generator)
        return pixels * span + low

    def _uniform(self, n: int, bounds: tuple[float, float], images: torch.Tensor, generator) -> torch.Tensor:
        """[n] uniform draws in ``bounds``, made on the generator's device and moved to the images' device."""
        values = torch.rand(n, generator=generator, device=generator.device if generator is not None else "cpu")
        return (bounds[0] + values * (bounds[1] - bounds[0])).to(images.device)

    def _chance(self, n: int, probability: float, images: torch.Tensor, generator) -> torch.Tensor:
        return self._uniform(n, (0.0, 1.0), images, generator) < probability

    def _crop_and_flip(self, pixels: torch.Tensor, generator) -> torch.Tensor:
        n = pixels.shape[0]
        area = self._uniform(n, self.config.crop_scale, pixels, generator)
        log_ratio = self._uniform(n, tuple(math.log(r) for r in self.config.crop_ratio), pixels, generator)
        width = torch.sqrt(area * log_ratio.exp()).clamp(max=1.0)
        height = torch.sqrt(area / log_ratio.exp()).clamp(max=1.0)
        centre_x = (1 - width) * self._uniform(n, (-1.0, 1.0), pixels, generator)
        centre_y = (1 - height) * self._uniform(n, (-1.0, 1.0), pixels, generator)
        flip = torch.where(self._chance(n, self.config.flip_prob, pixels, generator), -1.0, 1.0).to(pixels.device)
        theta = torch.zeros(n, 2, 3, device=pixels.device)
        theta[:, 0, 0], theta[:, 0, 2] = width * flip, centre_x
        theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
        grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
        return F.grid_sample(pixels, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _gray(self, pixels: torch.Tensor) -> torch.Tensor:
        if pixels.shape[1] != 3:
            return pixels.mean(dim=1, keepdim=True)
        weights = torch.tensor(GRAY_WEIGHTS, device=pixels.device).view(1, 3, 1, 1)
        return (pixels * weights).sum(dim=1, keepdim=True)

    def _jitter(self, pixels: torch.Tensor, generator) -> torch.Tensor:
        n = pixels.shape[0]
        apply = self._chance(n, self.config.jitter_prob, pixels, generator).view(n, 1, 1, 1)
        brightness, contrast, saturation = (
            self._uniform(n, (1 - s, 1 + s), pixels, generator).view(n, 1, 1, 1) for s in self.config.jitter_strength
        )
        jittered = (pixels * brightness).clamp(0, 1)
        mean = self._gray(jittered).mean(dim=(1, 2, 3), keepdim=True)
        jittered = ((jittered - mean) * contrast + mean).clamp(0, 1)
        if pixels.shape[1] == 3:
            gray = self._gray(jittered)
            jittered = ((jittered - gray) * saturation + gray).clamp(0, 1)
        return torch.where(apply, jittered, pixels)

    def _grayscale(self, pixels: torch.Tensor, generator) -> torch.Tensor:
        if self.config.grayscale_prob == 0 or pixels.shape[1] != 3:
            return pixels
        apply = self._chance(pixels.shape[0], self.config.grayscale_prob, pixels, generator).view(-1, 1, 1, 1)
        return torch.where(apply, self._gray(pixels).expand_as(pixels), pixels)

    def _blur(self, pixels: torch.Tensor, generator) -> torch.Tensor:
        if self.config.blur_prob == 0:
            return pixels
        n, channels, height, width = pixels.shape
        sigma = self._uniform(n, self.config.blur_sigma, pixels, generator).clamp_min(1e-3)
        radius = self.config.blur_kernel // 2
        offsets = torch.arange(-radius, radius + 1, device=pixels.device, dtype=pixels.dtype)
        kernels = torch.exp(-(offsets.view(1, -1) ** 2) / (2 * sigma.view(-1, 1) ** 2))
        kernels = (kernels / kernels.sum(dim=1, keepdim=True)).repeat_interleave(channels, dim=0)
        flat = pixels.reshape(1, n * channels, height, width)
        flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
        flat = F.conv2d(flat, kernels.view(n * channels, 1, 1, -1), groups=n * channels)
        flat = F.conv2d(flat, kernels.view(n * channels, 1, -1, 1), groups=n * channels)
        blurred = flat.view(n, channels, height, width)
        apply = self._chance(n, self.config.blur_prob, pixels, generator).view(n, 1, 1, 1)
        return torch.where(apply, blurred, pixels)
