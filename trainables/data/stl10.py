"""STL-10 from the binary release (``stl10_binary``), labelled train and test merged (13,000 images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainables.data.files import locate_folder, require_file, require_folder
from trainables.data.sources import ImageArraySource
from trainables.data.spec import DatasetSpec, LoadedData, LoadRequest, register_dataset
from trainables.data.views import ViewPolicy
from trainables.errors import DataError

STL_SIDE = 96
STL_PIXELS = 3 * STL_SIDE * STL_SIDE
STL_FOLDER = "stl10_binary"
STL_SPLITS = ("train", "test")
STL_LAYOUT = f"<root>/{STL_FOLDER}/{{train,test}}_X.bin and {{train,test}}_y.bin"


def read_stl_split(x_path: Path, y_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One split -> (images uint8 [N, 96, 96, 3], labels int64 [N] in 0..9).

    The images are stored column-major per channel (C, W, H); labels are stored as 1..10.

    Raises:
        DataError: the file sizes do not hold whole 3x96x96 images or the label count differs.
    """
    raw = np.fromfile(x_path, dtype=np.uint8)
    if raw.size == 0 or raw.size % STL_PIXELS:
        raise DataError(
            f"{x_path} holds {raw.size} bytes, not a whole number of 3x96x96 images; re-download STL-10"
        )
    images = raw.reshape(-1, 3, STL_SIDE, STL_SIDE).transpose(0, 3, 2, 1)
    labels = np.fromfile(y_path, dtype=np.uint8).astype(np.int64) - 1
    if len(labels) != len(images):
        raise DataError(
            f"{y_path} holds {len(labels)} labels for {len(images)} images in {x_path}; re-download STL-10"
        )
    if labels.min() < 0 or labels.max() > 9:
        raise DataError(f"{y_path} has labels outside 1..10; re-download STL-10")
    return np.ascontiguousarray(images), labels


def load_stl10(request: LoadRequest) -> LoadedData:
    """STL-10 labelled train+test: 13,000 RGB 96x96 images, 10 classes."""
    folder = require_folder(request.root, STL_FOLDER, STL_LAYOUT)
    parts = [
        read_stl_split(
            require_file(folder / f"{split}_X.bin", request.root, STL_LAYOUT),
            require_file(folder / f"{split}_y.bin", request.root, STL_LAYOUT),
        )
        for split in STL_SPLITS
    ]
    images = np.concatenate([p[0] for p in parts])
    return LoadedData(ImageArraySource(images), np.concatenate([p[1] for p in parts]), num_classes=10)


def _present(root: Path) -> bool:
    folder = locate_folder(root, STL_FOLDER)
    names = [f"{split}_{part}.bin" for split in STL_SPLITS for part in ("X", "y")]
    return folder is not None and all((folder / name).is_file() for name in names)


def _download(root: Path) -> None:
    from torchvision.datasets import STL10

    STL10(str(root), split="train", download=True)


register_dataset(
    DatasetSpec(
        name="stl10",
        load=load_stl10,
        layout=STL_LAYOUT,
        mean=(0.4914, 0.4823, 0.4466),
        std=(0.247, 0.243, 0.261),
        download=_download,
        is_present=_present,
        views=ViewPolicy(mirror=True),
    )
)
