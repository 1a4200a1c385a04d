"""Samples given as arrays: ``.npz`` (``x`` and ``y``), ``.npy`` (features plus a labels file) or ``.csv``.

``dataset.root`` is the data file, or a folder holding ``data.npz``, ``data.csv`` or ``x.npy`` + ``y.npy``.
2-D arrays are feature vectors; 3-D arrays [N, H, W] grayscale images; 4-D arrays [N, H, W, C]
images (``channels_first: true`` for [N, C, H, W]), uint8 or floats in [0, 1]. Labels may be any
values; they are numbered in sorted order.

Options (``dataset.options``): ``file`` (file name inside the root folder), ``x_key`` / ``y_key``
(npz keys), ``labels`` (labels file of an ``.npy``, default ``y.npy`` beside it), ``label_column``
(csv: an int index, negative from the end, or a header name; default -1, the last), ``header`` (csv, default: skip the first row when it is not numeric),
``delimiter`` (csv, default ``,``), ``channels_first``.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trainables.data.sources import ImageArraySource, SampleSource, VectorSource
from trainables.data.spec import DatasetSpec, LoadedData, LoadRequest, register_dataset
from trainables.errors import ConfigError, DataError

DEFAULT_FILES = ("data.npz", "data.csv", "x.npy")
ARRAYS_LAYOUT = (
    "a .npz with arrays x and y, a .csv with one label column (the last unless dataset.options.label_column "
    "says otherwise), or x.npy + y.npy"
)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DataError(
            f"cannot read {path} as a NumPy array ({error}); re-save it with numpy.save"
        ) from None


def read_npz(path: Path, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    x_key, y_key = options.get("x_key", "x"), options.get("y_key", "y")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in (x_key, y_key) if key not in archive.files]
            if missing:
                raise DataError(
                    f"{path} has no array {missing[0]!r} (it has {', '.join(archive.files)}); "
                    "set dataset.options.x_key and y_key to the right names"
                )
            return archive[x_key], archive[y_key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(
            f"cannot read {path} as a .npz archive ({error}); re-save it with numpy.savez"
        ) from None


def read_npy(path: Path, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    labels = path.parent / options.get("labels", "y.npy")
    if not labels.is_file():
        raise DataError(
            f"labels file {labels} is missing; save the labels there or set dataset.options.labels"
        )
    return _load_npy(path), _load_npy(labels)


def _is_numeric(cells: list[str]) -> bool:
    try:
        [float(cell) for cell in cells]
    except ValueError:
        return False
    return True


def _label_column(path: Path, first_row: list[str], options: dict[str, Any]) -> tuple[int, bool]:
    """The label's column index in [0, width) and whether the first row is a header.

    ``label_column`` is an int index (negative counts from the end) or a header name.
    """
    width = len(first_row)
    column = options.get("label_column", -1)
    header = options.get("header")
    if isinstance(column, bool) or not isinstance(column, (int, str)):
        raise ConfigError(
            f"dataset.options.label_column must be an int index or a header name, but got {column!r}; "
            "e.g. label_column: 0 or label_column: class"
        )
    if isinstance(column, str):
        names = [cell.strip() for cell in first_row]
        if header is False or column not in names:
            raise DataError(
                f"dataset.options.label_column {column!r} is not a column of {path} (its header: "
                f"{', '.join(names[:20])}{', ...' if width > 20 else ''}); set it to one of those or to an index"
            )
        return names.index(column), True
    if not -width <= column < width:
        raise DataError(
            f"dataset.options.label_column={column} is outside the {width} columns of {path}; "
            f"use an index in {-width}..{width - 1} or a header name"
        )
    index = column % width
    if header is None:
        header = not _is_numeric([cell for i, cell in enumerate(first_row) if i != index])
    return index, bool(header)


def read_csv(path: Path, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as file:
        rows = [row for row in csv.reader(file, delimiter=options.get("delimiter", ",")) if row]
    if not rows:
        raise DataError(f"{path} is empty; write one sample per row with its label in one column")
    column, header = _label_column(path, rows[0], options)
    rows = rows[1:] if header else rows
    width = len(rows[0])
    labels, features = [], []
    for number, row in enumerate(rows, start=2 if header else 1):
        if len(row) != width:
            raise DataError(f"row {number} of {path} has {len(row)} columns instead of {width}; fix the row")
        labels.append(row[column].strip())
        cells = row[:column] + row[column + 1 :]
        if not _is_numeric(cells):
            raise DataError(
                f"row {number} of {path} has a non-numeric feature; fix it or set dataset.options.header"
            )
        features.append([float(cell) for cell in cells])
    return np.asarray(features, dtype=np.float32), np.asarray(labels)


READERS: dict[str, Callable[[Path, dict[str, Any]], tuple[np.ndarray, np.ndarray]]] = {
    ".npz": read_npz,
    ".npy": read_npy,
    ".csv": read_csv,
}


def _data_file(root: Path, options: dict[str, Any]) -> Path:
    if root.is_file():
        return root
    if "file" in options:
        path = root / options["file"]
        if not path.is_file():
            raise DataError(f"{path} is missing; set dataset.options.file to a file inside {root}")
        return path
    for name in DEFAULT_FILES:
        if (root / name).is_file():
            return root / name
    raise DataError(f"{root} holds none of {', '.join(DEFAULT_FILES)}; put there {ARRAYS_LAYOUT}")


def to_uint8_images(array: np.ndarray, channels_first: bool) -> np.ndarray:
    """[N, H, W] / [N, H, W, C] / [N, C, H, W] uint8 or [0, 1] floats -> uint8 [N, H, W, C]."""
    if array.ndim == 3:
        array = array[..., None]
    elif channels_first:
        array = array.transpose(0, 2, 3, 1)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if not np.issubdtype(array.dtype, np.number) or array.min() < 0 or array.max() > 1:
        raise DataError(
            f"image arrays must be uint8 or floats in [0, 1], but got {array.dtype}; rescale the images"
        )
    return np.rint(array * 255).astype(np.uint8)


def to_source(x: np.ndarray, options: dict[str, Any]) -> SampleSource:
    """Vectors for 2-D arrays, images for 3-D and 4-D ones."""
    if x.ndim == 2:
        if not np.issubdtype(x.dtype, np.number):
            raise DataError(f"feature arrays must be numeric, but got {x.dtype}; convert the features")
        return VectorSource(x)
    if x.ndim in (3, 4):
        return ImageArraySource(to_uint8_images(x, bool(options.get("channels_first", False))))
    raise DataError(f"data arrays must be 2-D (vectors), 3-D or 4-D (images), but got shape {list(x.shape)}")


def load_arrays(request: LoadRequest) -> LoadedData:
    """Vectors or images with labels from one array file (see the module docstring)."""
    path = _data_file(request.root, request.options)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise DataError(f"{path} is not a .npz, .npy or .csv file; convert it to one of those")
    x, y = reader(path, request.options)
    y = np.asarray(y).reshape(-1)
    if len(y) != len(x):
        raise DataError(f"{path} has {len(x)} samples but {len(y)} labels; give exactly one label per sample")
    classes, targets = np.unique(y, return_inverse=True)
    return LoadedData(to_source(x, request.options), targets.astype(np.int64), num_classes=len(classes))


ARRAYS_OPTIONS = ("file", "x_key", "y_key", "labels", "label_column", "header", "delimiter", "channels_first")

register_dataset(DatasetSpec(name="arrays", load=load_arrays, layout=ARRAYS_LAYOUT, options=ARRAYS_OPTIONS))
