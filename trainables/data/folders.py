"""Datasets stored as one folder of images per class.

``coil20`` and ``image_folder`` are decoded into memory; the ImageNet subsets and Tiny-ImageNet are
read lazily from their paths because they are large.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from trainables.data.files import require_folder
from trainables.data.sources import ImageArraySource, ImagePathSource, fit_square
from trainables.data.spec import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DatasetSpec,
    LoadedData,
    LoadRequest,
    register_dataset,
)
from trainables.data.views import ViewPolicy
from trainables.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "F"}
IMAGENET_SIDE = 224
IMAGENET_VAL_RESIZE = 256 / 224
TINY_SIDE = 64

COIL20_CLASSES = [f"obj{i:02d}" for i in range(1, 21)]
COIL20_LAYOUT = "<root>/obj01..obj20/*.png (72 grayscale 128x128 images per object)"
IMAGE_FOLDER_LAYOUT = "<root>/<class name>/<image file> (one folder per class)"
IMAGENET_LAYOUT = "an ImageNet-1k train folder <root>/<wnid>/*.JPEG holding the wnids of the subset"
TINY_FOLDER = "tiny-imagenet-200"
TINY_LAYOUT = f"<root>/{TINY_FOLDER}/train/<wnid>/images/*.JPEG"


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted; DataError if there are none."""
    if not folder.is_dir():
        raise DataError(f"{folder} is missing; create it and put the class's images there")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise DataError(
            f"{folder} holds no image files; put the class's images there or remove the folder"
        )
    return paths


def scan_classes(class_folders: list[Path]) -> tuple[list[Path], np.ndarray]:
    """All images of each class folder -> (paths, labels int64 [N]); label = position in the list."""
    paths: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(class_folders):
        images = list_images(folder)
        paths.extend(images)
        labels.extend([label] * len(images))
    return paths, np.asarray(labels, dtype=np.int64)


def _open(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (OSError, UnidentifiedImageError) as error:
        raise DataError(f"cannot read image {path} ({error}); replace or delete the file") from None


def decode_images(paths: list[Path], num_channels: int, size: int | None) -> np.ndarray:
    """Decode images to uint8 [N, S, S, C]; without ``size`` all images must share one square size.

    Raises:
        DataError: an image cannot be read, or sizes differ and no ``size`` was given.
    """
    mode = "L" if num_channels == 1 else "RGB"
    arrays = []
    first_size = None
    for path in paths:
        image = _open(path).convert(mode)
        if size is not None:
            image = fit_square(image, size)
        elif first_size is None:
            first_size = image.size
        elif image.size != first_size:
            raise DataError(
                f"{path} is {image.size[0]}x{image.size[1]} but {paths[0]} is "
                f"{first_size[0]}x{first_size[1]}; pass dataset.image_size to resize all images"
            )
        arrays.append(np.asarray(image))
    return np.stack(arrays).reshape(len(arrays), *arrays[0].shape[:2], num_channels)


def load_coil20(request: LoadRequest) -> LoadedData:
    """COIL-20: 20 objects x 72 poses, grayscale, decoded into memory."""
    folders = [request.root / name for name in COIL20_CLASSES]
    missing = [f.name for f in folders if not f.is_dir()]
    if missing:
        raise DataError(
            f"{request.root} lacks {', '.join(missing)}; lay out dataset.root as {COIL20_LAYOUT}"
        )
    paths, labels = scan_classes(folders)
    images = decode_images(paths, num_channels=1, size=request.load_size)
    return LoadedData(ImageArraySource(images), labels, num_classes=len(folders))


def load_image_folder(request: LoadRequest) -> LoadedData:
    """Options: ``channels`` (1 or 3; default: 1 if the first image is grayscale, else 3)."""
    folders = sorted(p for p in request.root.iterdir() if p.is_dir())
    if not folders:
        raise DataError(
            f"{request.root} has no class folders; lay out dataset.root as {IMAGE_FOLDER_LAYOUT}"
        )
    paths, labels = scan_classes(folders)
    channels = request.options.get("channels")
    if channels is None:
        channels = 1 if _open(paths[0]).mode in GRAYSCALE_MODES else 3
    if channels not in (1, 3):
        raise DataError(f"dataset.options.channels must be 1 or 3, but got {channels!r}; fix the option")
    images = decode_images(paths, num_channels=channels, size=request.load_size)
    return LoadedData(ImageArraySource(images), labels, num_classes=len(folders))


def read_wnids(filename: str) -> list[str]:
    """The wnid list shipped as package data in ``trainables/data/<filename>``."""
    text = resources.files("trainables.data").joinpath(filename).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def _imagenet_subset_loader(wnid_file: str):
    def load(request: LoadRequest) -> LoadedData:
        """The subset's wnid folders of an ImageNet train folder, read lazily."""
        wnids = read_wnids(wnid_file)
        base = request.root
        if not (base / wnids[0]).is_dir() and (base / "train").is_dir():
            base = base / "train"
        missing = [wnid for wnid in wnids if not (base / wnid).is_dir()]
        if missing:
            raise DataError(
                f"{base} lacks the class folders {', '.join(missing)}; pass dataset.root pointing to "
                f"{IMAGENET_LAYOUT}"
            )
        paths, labels = scan_classes([base / wnid for wnid in wnids])
        return LoadedData(ImagePathSource(paths, IMAGENET_SIDE), labels, num_classes=len(wnids))

    return load


def load_tiny_imagenet(request: LoadRequest) -> LoadedData:
    """Tiny-ImageNet train split, classes numbered by sorted wnid, read lazily."""
    train = require_folder(request.root, TINY_FOLDER, TINY_LAYOUT) / "train"
    if not train.is_dir():
        raise DataError(f"{train} is missing; lay out dataset.root ({request.root}) as {TINY_LAYOUT}")
    wnids = sorted(p for p in train.iterdir() if p.is_dir())
    if not wnids:
        raise DataError(f"{train} has no class folders; lay out dataset.root as {TINY_LAYOUT}")
    paths, labels = scan_classes([folder / "images" for folder in wnids])
    return LoadedData(ImagePathSource(paths, TINY_SIDE), labels, num_classes=len(wnids))


# COIL-20 turns each object through 360 degrees on a turntable, so a mirrored view looks like the same object
# from another angle and like no other object.
register_dataset(
    DatasetSpec(name="coil20", load=load_coil20, layout=COIL20_LAYOUT, views=ViewPolicy(mirror=True))
)
register_dataset(
    DatasetSpec(
        name="image_folder", load=load_image_folder, layout=IMAGE_FOLDER_LAYOUT, options=("channels",)
    )
)


def _register_imagenet_subset(name: str, wnid_file: str) -> None:
    register_dataset(
        DatasetSpec(
            name=name,
            load=_imagenet_subset_loader(wnid_file),
            layout=IMAGENET_LAYOUT,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            val_resize_ratio=IMAGENET_VAL_RESIZE,
            views=ViewPolicy(mirror=True),
        )
    )


_register_imagenet_subset("imagenet10", "imagenet10_wnids.txt")
_register_imagenet_subset("imagenet_dogs", "imagenet_dogs_wnids.txt")
register_dataset(
    DatasetSpec(
        name="tiny_imagenet",
        load=load_tiny_imagenet,
        layout=TINY_LAYOUT,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        views=ViewPolicy(mirror=True),
    )
)
