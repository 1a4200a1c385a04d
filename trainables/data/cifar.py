"""CIFAR-10 and CIFAR-20 from the python pickle batches, train and test merged.

CIFAR-20 maps CIFAR-100's fine labels to its 20 superclasses with the standard table (the one SCAN's
``data/cifar.py`` uses; it equals CIFAR-100's own ``coarse_labels``).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from trainables.data.files import locate_folder, require_file, require_folder
from trainables.data.sources import ImageArraySource
from trainables.data.spec import DatasetSpec, LoadedData, LoadRequest, register_dataset
from trainables.data.views import ViewPolicy
from trainables.errors import DataError

CIFAR_SIDE = 32
CIFAR_PIXELS = 3 * CIFAR_SIDE * CIFAR_SIDE

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_FILES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]
CIFAR10_LAYOUT = f"<root>/{CIFAR10_FOLDER}/{{data_batch_1..data_batch_5,test_batch}}"
CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_FILES = ["train", "test"]
CIFAR100_LAYOUT = f"<root>/{CIFAR100_FOLDER}/{{train,test}}"

# CIFAR-100 fine label (index) -> superclass.
CIFAR100_TO_CIFAR20 = np.array(
    [
        4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
        6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
        5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
        10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
        16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
    ],
    dtype=np.int64,
)  # fmt: skip


# The only globals a CIFAR batch (a dict of lists, str/bytes and one uint8 array) refers to: numpy's array
# reconstruction under its 1.x and 2.x module names, and the bytes codec of protocol-2 pickles. None runs code.
CIFAR_PICKLE_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),  # protocol 5 arrays
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class NotACifarBatch(pickle.UnpicklingError):
    """The pickle asks for a global a CIFAR batch never holds."""


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds only dicts, lists, str, bytes, numbers and numpy arrays: a crafted file cannot
    run code (``find_class`` refuses every other global, e.g. ``os.system``)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in CIFAR_PICKLE_GLOBALS:
            raise NotACifarBatch(f"{module}.{name}")
        return super().find_class(module, name)


def read_pickle_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR pickle batch -> (images uint8 [N, 32, 32, 3], labels int64 [N]).

    The file is unpickled with ``_CifarUnpickler``, which cannot run code.

    Raises:
        DataError: the file is truncated, not a CIFAR batch (e.g. it refers to other Python objects), or its
            sizes do not match.
    """
    try:
        with open(path, "rb") as file:
            batch: Any = _CifarUnpickler(file, encoding="latin1").load()
        data, labels = np.asarray(batch["data"]), np.asarray(batch[label_key], dtype=np.int64)
    except NotACifarBatch as error:
        raise DataError(
            f"{path} is not a CIFAR batch: it refers to {error}, which a CIFAR batch never holds; re-download it "
            f"(do not load files from untrusted sources)"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise DataError(
            f"{path} is truncated or not a CIFAR pickle batch ({type(error).__name__}); re-download it"
        ) from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR_PIXELS:
        raise DataError(
            f"{path} holds {data.dtype} data of shape {list(data.shape)}, not uint8 rows of "
            f"{CIFAR_PIXELS} pixels (3x32x32); re-download the file"
        )
    if len(labels) != len(data):
        raise DataError(f"{path} holds {len(data)} images but {len(labels)} labels; re-download the file")
    images = data.reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _read_batches(folder: Path, names: list[str], root: Path, layout: str, label_key: str):
    parts = [read_pickle_batch(require_file(folder / name, root, layout), label_key) for name in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_cifar10(request: LoadRequest) -> LoadedData:
    """CIFAR-10 train+test: 60,000 RGB 32x32 images, 10 classes."""
    folder = require_folder(request.root, CIFAR10_FOLDER, CIFAR10_LAYOUT)
    images, labels = _read_batches(folder, CIFAR10_FILES, request.root, CIFAR10_LAYOUT, "labels")
    return LoadedData(ImageArraySource(images), labels, num_classes=10)


def load_cifar20(request: LoadRequest) -> LoadedData:
    """CIFAR-100 train+test with fine labels mapped to the 20 superclasses."""
    folder = require_folder(request.root, CIFAR100_FOLDER, CIFAR100_LAYOUT)
    images, fine = _read_batches(folder, CIFAR100_FILES, request.root, CIFAR100_LAYOUT, "fine_labels")
    if fine.min() < 0 or fine.max() >= len(CIFAR100_TO_CIFAR20):
        raise DataError(f"{folder} has fine labels outside 0..99; re-download CIFAR-100")
    return LoadedData(ImageArraySource(images), CIFAR100_TO_CIFAR20[fine], num_classes=20)


def _present(folder: str, names: list[str]):
    def is_present(root: Path) -> bool:
        found = locate_folder(root, folder)
        return found is not None and all((found / name).is_file() for name in names)

    return is_present


def _download_cifar10(root: Path) -> None:
    from torchvision.datasets import CIFAR10

    CIFAR10(str(root), train=True, download=True)


def _download_cifar100(root: Path) -> None:
    from torchvision.datasets import CIFAR100

    CIFAR100(str(root), train=True, download=True)


register_dataset(
    DatasetSpec(
        name="cifar10",
        load=load_cifar10,
        layout=CIFAR10_LAYOUT,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2023, 0.1994, 0.2010),
        download=_download_cifar10,
        is_present=_present(CIFAR10_FOLDER, CIFAR10_FILES),
        views=ViewPolicy(mirror=True, full_strength_from=CIFAR_SIDE),
    )
)
register_dataset(
    DatasetSpec(
        name="cifar20",
        load=load_cifar20,
        layout=CIFAR100_LAYOUT,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
        download=_download_cifar100,
        is_present=_present(CIFAR100_FOLDER, CIFAR100_FILES),
        views=ViewPolicy(mirror=True, full_strength_from=CIFAR_SIDE),
    )
)
