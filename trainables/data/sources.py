"""Where samples come from: uint8 images in memory, image files read lazily, or float vectors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from trainables.errors import DataError


class SampleSource(ABC):
    """A store of raw samples, before any view is applied, read a batch at a time."""

    is_image: bool

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def samples(self, indices: Tensor) -> Tensor:
        """The samples ``indices`` [n] (int64): uint8 pixels [n, C, S, S] for images, float32 [n, D] for vectors."""


class ImageSource(SampleSource):
    """Images of ``num_channels`` channels; ``native_size`` is their side (None if not square)."""

    is_image = True
    num_channels: int
    native_size: int | None

    @abstractmethod
    def resized(self, size: int) -> ImageSource:
        """A source whose images' shorter side is ``size`` (in-memory sources also crop square)."""


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` (bilinear) and centre-crop a ``size`` x ``size`` square."""
    width, height = image.size
    if (width, height) == (size, size):
        return image
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return image.crop((left, top, left + size, top + size))


def _to_pil(array: np.ndarray) -> Image.Image:
    """[H, W, C] uint8 -> PIL image ('L' for one channel, 'RGB' for three)."""
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


class ImageArraySource(ImageSource):
    """Images held in memory, decoded once: given as uint8 [N, H, W, C] with C in {1, 3}, kept as a uint8 tensor
    ``pixels`` [N, C, H, W]."""

    def __init__(self, images: np.ndarray) -> None:
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise DataError(
                f"images must be uint8 [N, H, W, C] with C 1 or 3, but got {images.dtype} "
                f"{list(images.shape)}; convert the data to 8-bit grayscale or RGB images"
            )
        self.pixels = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))

    @property
    def num_channels(self) -> int:
        return self.pixels.shape[1]

    @property
    def native_size(self) -> int | None:
        """Side of the images when they are square, else None."""
        height, width = self.pixels.shape[2:]
        return height if height == width else None

    def resized(self, size: int) -> ImageArraySource:
        """A copy whose images are ``size`` x ``size`` (shorter side resized, centre-cropped)."""
        if self.native_size == size:
            return self
        images = self.pixels.permute(0, 2, 3, 1).numpy()
        out = np.stack([np.asarray(fit_square(_to_pil(image), size)) for image in images])
        return ImageArraySource(out.reshape(len(out), size, size, self.num_channels))

    def __len__(self) -> int:
        return len(self.pixels)

    def samples(self, indices: Tensor) -> Tensor:
        return self.pixels[indices]


class ImagePathSource(ImageSource):
    """Image files decoded on access and fitted to a ``load_size`` square (shorter side resized, centre-cropped;
    ImageNet-style folders, too large to hold decoded)."""

    def __init__(self, paths: list[Path], native_size: int, num_channels: int = 3) -> None:
        self.paths = paths
        self.native_size = native_size
        self.num_channels = num_channels
        self.load_size = native_size

    def resized(self, size: int) -> ImagePathSource:
        """A copy that fits each image to a ``size`` square when it is read."""
        copy = ImagePathSource(self.paths, self.native_size, self.num_channels)
        copy.load_size = size
        return copy

    def __len__(self) -> int:
        return len(self.paths)

    def samples(self, indices: Tensor) -> Tensor:
        images = [np.asarray(fit_square(self._decode(int(index)), self.load_size)) for index in indices.tolist()]
        stacked = np.stack(images).reshape(len(images), self.load_size, self.load_size, self.num_channels)
        return torch.from_numpy(np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)))

    def _decode(self, index: int) -> Image.Image:
        path = self.paths[index]
        try:
            with Image.open(path) as image:
                return image.convert("RGB" if self.num_channels == 3 else "L")
        except (OSError, UnidentifiedImageError) as error:
            raise DataError(f"cannot read image {path} ({error}); replace or delete the file") from None


class VectorSource(SampleSource):
    """Feature vectors [N, D] float32, standardised per feature (zero mean, unit variance)."""

    is_image = False

    def __init__(self, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or not np.isfinite(vectors).all():
            raise DataError(
                f"vectors must be a finite [N, D] array, but got shape {list(vectors.shape)}; "
                "remove rows with NaN or inf and flatten each sample to one row"
            )
        std = vectors.std(axis=0)
        std[std == 0] = 1.0
        self.vectors = torch.from_numpy((vectors - vectors.mean(axis=0)) / std)

    @property
    def input_dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.vectors)

    def samples(self, indices: Tensor) -> Tensor:
        return self.vectors[indices]
