"""MNIST from its idx files (optionally gzipped), train and test merged (70,000 images)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from trainables.data.sources import ImageArraySource
from trainables.data.spec import DatasetSpec, LoadedData, LoadRequest, register_dataset
from trainables.data.views import ViewPolicy
from trainables.errors import DataError

MNIST_SPLITS = (
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
)
MNIST_SUBFOLDERS = (".", "MNIST/raw")
MNIST_LAYOUT = (
    "<root>/{train,t10k}-images-idx3-ubyte[.gz] and <root>/{train,t10k}-labels-idx1-ubyte[.gz] "
    "(or the same under <root>/MNIST/raw)"
)
IDX_UBYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """An idx file of unsigned bytes -> uint8 array of its declared shape.

    Raises:
        DataError: the header is not an idx header or the data size does not match it.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read idx file {path} ({error}); re-download it") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UBYTE:
        raise DataError(f"{path} is not an idx file of unsigned bytes; re-download it")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(
            f"{path} declares shape {list(shape)} but holds {data.size} values; re-download it"
        )
    return data.reshape(shape)


def _find(root: Path, name: str) -> Path:
    for folder in MNIST_SUBFOLDERS:
        for candidate in (root / folder / name, root / folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(f"{root / name}[.gz] is missing; lay out dataset.root ({root}) as {MNIST_LAYOUT}")


def load_mnist(request: LoadRequest) -> LoadedData:
    """MNIST train+t10k: 70,000 grayscale 28x28 images, 10 classes."""
    images, labels = [], []
    for image_name, label_name in MNIST_SPLITS:
        split_images = read_idx(_find(request.root, image_name))
        split_labels = read_idx(_find(request.root, label_name)).astype(np.int64)
        if split_images.ndim != 3 or len(split_labels) != len(split_images):
            raise DataError(
                f"{image_name} holds shape {list(split_images.shape)} for {len(split_labels)} labels; "
                "re-download MNIST"
            )
        images.append(split_images)
        labels.append(split_labels)
    return LoadedData(ImageArraySource(np.concatenate(images)[..., None]), np.concatenate(labels), 10)


def _present(root: Path) -> bool:
    try:
        for names in MNIST_SPLITS:
            for name in names:
                _find(root, name)
    except DataError:
        return False
    return True


def _download(root: Path) -> None:
    from torchvision.datasets import MNIST

    MNIST(str(root), train=True, download=True)


register_dataset(
    DatasetSpec(
        name="mnist",
        load=load_mnist,
        layout=MNIST_LAYOUT,
        mean=(0.1307,),
        std=(0.3081,),
        download=_download,
        is_present=_present,
        views=ViewPolicy(mirror=False),
    )
)
