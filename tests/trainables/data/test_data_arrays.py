"""Array files: .npz, .npy + labels, .csv (vectors, standardised) and image arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainables.config import DatasetConfig
from trainables.data import build_dataset
from trainables.errors import ConfigError, DataError


def standardised(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / x.std(axis=0)


def test_npz_vectors_are_standardised_and_labels_renumbered(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(3.0, 2.0, (20, 5)), rng.choice([10, 30, 20], 20)
    np.savez(tmp_path / "data.npz", x=x, y=y)
    dataset = build_dataset(DatasetConfig(name="arrays", root=tmp_path), views=("val", "weak", "strong"))
    assert not dataset.is_image and dataset.image_size is None and dataset.num_channels == 0
    assert dataset.input_dim == 5 and dataset.num_classes == 3
    np.testing.assert_array_equal(dataset.targets, (y // 10) - 1)
    views, index, label = dataset[4]
    np.testing.assert_allclose(views["val"].numpy(), standardised(x)[4], atol=1e-5)
    assert views["weak"].shape == views["strong"].shape == (5,)
    assert label == y[4] // 10 - 1 and index == 4


def test_npy_with_labels_file_option(tmp_path: Path) -> None:
    x, y = np.random.default_rng(1).normal(size=(6, 3)), np.array([1, 1, 0, 2, 0, 2])
    np.save(tmp_path / "features.npy", x)
    np.save(tmp_path / "targets.npy", y)
    config = DatasetConfig(name="arrays", root=tmp_path / "features.npy", options={"labels": "targets.npy"})
    dataset = build_dataset(config)
    np.testing.assert_array_equal(dataset.targets, y)
    np.testing.assert_allclose(dataset.source.vectors.numpy(), standardised(x), atol=1e-5)


def test_csv_with_header_and_string_labels(tmp_path: Path) -> None:
    rows = [("1.0", "2.0", "cat"), ("3.0", "5.0", "dog"), ("0.5", "1.0", "cat"), ("2.0", "0.0", "emu")]
    (tmp_path / "data.csv").write_text("a,b,label\n" + "\n".join(",".join(r) for r in rows) + "\n")
    dataset = build_dataset(DatasetConfig(name="arrays", root=tmp_path))
    assert len(dataset) == 4 and dataset.num_classes == 3
    np.testing.assert_array_equal(dataset.targets, [0, 1, 0, 2])
    x = np.array([[float(r[0]), float(r[1])] for r in rows])
    np.testing.assert_allclose(dataset.source.vectors.numpy(), standardised(x), atol=1e-5)


def test_csv_with_a_bad_row_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("1,2,0\n3,oops,1\n")
    with pytest.raises(DataError, match="row 2 .* non-numeric"):
        build_dataset(DatasetConfig(name="arrays", root=tmp_path))


def test_npz_images_channels_first(tmp_path: Path) -> None:
    images = np.random.default_rng(2).integers(0, 256, (4, 3, 10, 10), dtype=np.uint8)
    np.savez(tmp_path / "imgs.npz", x=images, y=np.array([0, 1, 0, 1]))
    config = DatasetConfig(name="arrays", root=tmp_path / "imgs.npz", options={"channels_first": True})
    dataset = build_dataset(config)
    assert dataset.is_image and dataset.num_channels == 3 and dataset.image_size == 10
    val = dataset[2][0]["val"]
    torch.testing.assert_close(val, torch.from_numpy((images[2] / 255.0 - 0.5) / 0.5).float(), atol=1e-5, rtol=0)


def test_mismatched_label_count_is_a_data_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "data.npz", x=np.zeros((5, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match="5 samples but 4 labels"):
        build_dataset(DatasetConfig(name="arrays", root=tmp_path))


def test_missing_key_names_the_option(tmp_path: Path) -> None:
    np.savez(tmp_path / "data.npz", features=np.zeros((5, 2)), y=np.zeros(5))
    with pytest.raises(DataError, match="no array 'x'.*x_key"):
        build_dataset(DatasetConfig(name="arrays", root=tmp_path))


def test_image_size_on_vectors_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "data.npz", x=np.random.default_rng(0).normal(size=(5, 2)), y=np.arange(5))
    with pytest.raises(DataError, match="holds vectors"):
        build_dataset(DatasetConfig(name="arrays", root=tmp_path, image_size=8))


LABEL_FIRST = "class,a,b\ncat,1.0,2.0\ndog,3.0,5.0\ncat,0.5,1.0\nemu,2.0,0.0\n"
LABEL_FIRST_X = np.array([[1.0, 2.0], [3.0, 5.0], [0.5, 1.0], [2.0, 0.0]])


@pytest.mark.parametrize("label_column", ["class", 0, -3])
def test_csv_label_column_by_name_or_index(tmp_path: Path, label_column: object) -> None:
    (tmp_path / "data.csv").write_text(LABEL_FIRST)
    dataset = build_dataset(DatasetConfig(name="arrays", root=tmp_path, options={"label_column": label_column}))
    np.testing.assert_array_equal(dataset.targets, [0, 1, 0, 2])
    np.testing.assert_allclose(dataset.source.vectors.numpy(), standardised(LABEL_FIRST_X), atol=1e-5)


def test_csv_label_column_in_the_middle_without_header(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("1.0,7,2.0\n3.0,8,5.0\n0.5,7,1.0\n")
    dataset = build_dataset(DatasetConfig(name="arrays", root=tmp_path, options={"label_column": 1}))
    np.testing.assert_array_equal(dataset.targets, [0, 1, 0])
    np.testing.assert_allclose(dataset.source.vectors.numpy(), standardised(np.array([[1.0, 2.0], [3.0, 5.0],
                                                                                     [0.5, 1.0]])), atol=1e-5)


@pytest.mark.parametrize("label_column,needle", [
    ("species", "label_column 'species' is not a column .*class, a, b"),
    (3, "label_column=3 is outside the 3 columns"),
    (-4, "label_column=-4 is outside the 3 columns"),
])
def test_csv_absent_label_column_is_a_one_line_data_error(tmp_path: Path, label_column: object, needle: str) -> None:
    (tmp_path / "data.csv").write_text(LABEL_FIRST)
    with pytest.raises(DataError, match=needle) as raised:
        build_dataset(DatasetConfig(name="arrays", root=tmp_path, options={"label_column": label_column}))
    assert "\n" not in str(raised.value)


def test_csv_label_column_of_another_type_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text(LABEL_FIRST)
    with pytest.raises(ConfigError, match="int index or a header name, but got 1.5"):
        build_dataset(DatasetConfig(name="arrays", root=tmp_path, options={"label_column": 1.5}))
