"""STL-10 binaries (column-major, labels 1..10) and MNIST idx files (plain and gzipped)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch
import pytest

from trainables.config import DatasetConfig
from trainables.data import build_dataset
from trainables.errors import DataError


def write_stl_split(folder: Path, split: str, images_hwc: np.ndarray, labels_1_to_10: np.ndarray) -> None:
    # Each image is stored channel by channel, every channel in column-major (Fortran) order.
    raw = b"".join(
        image[:, :, channel].ravel(order="F").tobytes() for image in images_hwc for channel in range(3)
    )
    (folder / f"{split}_X.bin").write_bytes(raw)
    (folder / f"{split}_y.bin").write_bytes(labels_1_to_10.astype(np.uint8).tobytes())


def make_stl(root: Path) -> tuple[np.ndarray, np.ndarray]:
    folder = root / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 96, 96, 3), dtype=np.uint8)
    labels = np.array([1, 10, 3, 7, 10])
    write_stl_split(folder, "train", images[:3], labels[:3])
    write_stl_split(folder, "test", images[3:], labels[3:])
    return images, labels


def test_stl10_reads_column_major_images_and_shifts_labels(tmp_path: Path) -> None:
    images, labels = make_stl(tmp_path)
    dataset = build_dataset(DatasetConfig(name="stl10", root=tmp_path))
    assert len(dataset) == 5 and dataset.num_classes == 10 and dataset.image_size == 96
    np.testing.assert_array_equal(dataset.targets, labels - 1)
    np.testing.assert_array_equal(dataset.source.samples(torch.arange(5)).permute(0, 2, 3, 1).numpy(), images)


def test_stl10_truncated_images_are_a_data_error(tmp_path: Path) -> None:
    make_stl(tmp_path)
    x_file = tmp_path / "stl10_binary" / "test_X.bin"
    x_file.write_bytes(x_file.read_bytes()[:-5])
    with pytest.raises(DataError, match="test_X.bin holds .* not a whole number of 3x96x96"):
        build_dataset(DatasetConfig(name="stl10", root=tmp_path))


def test_stl10_label_count_mismatch_is_a_data_error(tmp_path: Path) -> None:
    make_stl(tmp_path)
    (tmp_path / "stl10_binary" / "train_y.bin").write_bytes(bytes([1, 2]))
    with pytest.raises(DataError, match="2 labels for 3 images"):
        build_dataset(DatasetConfig(name="stl10", root=tmp_path))


def write_idx(path: Path, array: np.ndarray, gzipped: bool) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gzipped:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("gzipped", [False, True])
def test_mnist_idx_files_merge_train_and_test(tmp_path: Path, gzipped: bool) -> None:
    rng = np.random.default_rng(1)
    train_x, test_x = rng.integers(0, 256, (4, 28, 28)), rng.integers(0, 256, (2, 28, 28))
    train_y, test_y = np.array([5, 0, 9, 1]), np.array([7, 2])
    write_idx(tmp_path / "train-images-idx3-ubyte", train_x, gzipped)
    write_idx(tmp_path / "train-labels-idx1-ubyte", train_y, gzipped)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", test_x, gzipped)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", test_y, gzipped)
    dataset = build_dataset(DatasetConfig(name="mnist", root=tmp_path))
    assert len(dataset) == 6 and dataset.num_channels == 1 and dataset.image_size == 28
    np.testing.assert_array_equal(dataset.targets, np.concatenate([train_y, test_y]))
    np.testing.assert_array_equal(dataset.source.samples(torch.tensor([5]))[0, 0].numpy(), test_x[1])
    val = dataset[5][0]["val"]
    np.testing.assert_allclose(val[0].numpy(), (test_x[1] / 255.0 - 0.1307) / 0.3081, atol=1e-5)


def test_mnist_missing_file_names_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*missing.*MNIST/raw"):
        build_dataset(DatasetConfig(name="mnist", root=tmp_path))


def test_mnist_size_mismatch_with_header_is_a_data_error(tmp_path: Path) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((4, 28, 28)), gzipped=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    for name, shape in [("train-labels-idx1-ubyte", (4,)), ("t10k-images-idx3-ubyte", (1, 28, 28)),
                        ("t10k-labels-idx1-ubyte", (1,))]:
        write_idx(tmp_path / name, np.zeros(shape), gzipped=False)
    with pytest.raises(DataError, match="declares shape \\[4, 28, 28\\]"):
        build_dataset(DatasetConfig(name="mnist", root=tmp_path))
