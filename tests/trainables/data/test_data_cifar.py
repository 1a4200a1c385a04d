"""CIFAR pickle batches: counts, pixel layout, labels, the CIFAR-100 -> 20 superclass map and bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import pytest

from trainables.config import DatasetConfig
from trainables.data import build_dataset
from trainables.errors import DataError

# The official CIFAR-100 superclass table (https://www.cs.toronto.edu/~kriz/cifar.html), superclasses
# in their alphabetical order; fine labels are numbered by their names in alphabetical order.
SUPERCLASSES = [
    ["beaver", "dolphin", "otter", "seal", "whale"],
    ["aquarium_fish", "flatfish", "ray", "shark", "trout"],
    ["orchid", "poppy", "rose", "sunflower", "tulip"],
    ["bottle", "bowl", "can", "cup", "plate"],
    ["apple", "mushroom", "orange", "pear", "sweet_pepper"],
    ["clock", "keyboard", "lamp", "telephone", "television"],
    ["bed", "chair", "couch", "table", "wardrobe"],
    ["bee", "beetle", "butterfly", "caterpillar", "cockroach"],
    ["bear", "leopard", "lion", "tiger", "wolf"],
    ["bridge", "castle", "house", "road", "skyscraper"],
    ["cloud", "forest", "mountain", "plain", "sea"],
    ["camel", "cattle", "chimpanzee", "elephant", "kangaroo"],
    ["fox", "porcupine", "possum", "raccoon", "skunk"],
    ["crab", "lobster", "snail", "spider", "worm"],
    ["baby", "boy", "girl", "man", "woman"],
    ["crocodile", "dinosaur", "lizard", "snake", "turtle"],
    ["hamster", "mouse", "rabbit", "shrew", "squirrel"],
    ["maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"],
    ["bicycle", "bus", "motorcycle", "pickup_truck", "train"],
    ["lawn_mower", "rocket", "streetcar", "tank", "tractor"],
]


def official_coarse_of_fine() -> np.ndarray:
    fine_names = sorted(name for members in SUPERCLASSES for name in members)
    coarse = np.empty(100, dtype=np.int64)
    for superclass, members in enumerate(SUPERCLASSES):
        for name in members:
            coarse[fine_names.index(name)] = superclass
    return coarse


def write_batch(path: Path, images_hwc: np.ndarray, labels: dict[str, list[int]]) -> None:
    rows = np.stack([np.concatenate([img[:, :, c].ravel() for c in range(3)]) for img in images_hwc])
    with open(path, "wb") as file:
        pickle.dump({"data": rows, **labels}, file)


def make_cifar10(root: Path, rng: np.random.Generator, per_batch: int = 3) -> tuple[np.ndarray, np.ndarray]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    all_images, all_labels = [], []
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        images = rng.integers(0, 256, (per_batch, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        write_batch(folder / name, images, {"labels": labels})
        all_images.append(images)
        all_labels += labels
    return np.concatenate(all_images), np.asarray(all_labels)


def test_cifar10_merges_train_and_test_with_pixels_and_labels(tmp_path: Path) -> None:
    images, labels = make_cifar10(tmp_path, np.random.default_rng(0))
    dataset = build_dataset(DatasetConfig(name="cifar10", root=tmp_path))
    assert len(dataset) == 18 and dataset.num_classes == 10 and dataset.image_size == 32
    np.testing.assert_array_equal(dataset.targets, labels)
    np.testing.assert_array_equal(dataset.source.samples(torch.tensor([7]))[0].permute(1, 2, 0).numpy(), images[7])
    val = dataset[7][0]["val"]
    mean, std = np.array([0.4914, 0.4822, 0.4465]), np.array([0.2023, 0.1994, 0.2010])
    expected = (images[7] / 255.0 - mean) / std
    np.testing.assert_allclose(val.numpy().transpose(1, 2, 0), expected, atol=1e-5)


def test_cifar20_maps_fine_labels_to_the_official_superclasses(tmp_path: Path) -> None:
    coarse = official_coarse_of_fine()
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(1)
    fine_train, fine_test = np.arange(100), rng.integers(0, 100, 7)
    for name, fine in [("train", fine_train), ("test", fine_test)]:
        images = rng.integers(0, 256, (len(fine), 32, 32, 3), dtype=np.uint8)
        write_batch(
            folder / name, images, {"fine_labels": fine.tolist(), "coarse_labels": coarse[fine].tolist()}
        )
    dataset = build_dataset(DatasetConfig(name="cifar20", root=tmp_path))
    assert len(dataset) == 107 and dataset.num_classes == 20
    np.testing.assert_array_equal(dataset.targets, coarse[np.concatenate([fine_train, fine_test])])
    assert np.bincount(dataset.targets[:100]).tolist() == [5] * 20


def test_truncated_pickle_is_a_one_line_data_error(tmp_path: Path) -> None:
    make_cifar10(tmp_path, np.random.default_rng(2))
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:200])
    with pytest.raises(DataError, match="data_batch_3 is truncated") as error:
        build_dataset(DatasetConfig(name="cifar10", root=tmp_path))
    assert "\n" not in str(error.value)


def test_wrong_image_size_in_a_batch_is_a_data_error(tmp_path: Path) -> None:
    make_cifar10(tmp_path, np.random.default_rng(3))
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as file:
        pickle.dump({"data": np.zeros((2, 3 * 28 * 28), np.uint8), "labels": [0, 1]}, file)
    with pytest.raises(DataError, match="3x32x32"):
        build_dataset(DatasetConfig(name="cifar10", root=tmp_path))


def test_mismatched_label_count_is_a_data_error(tmp_path: Path) -> None:
    make_cifar10(tmp_path, np.random.default_rng(4))
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as file:
        pickle.dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1, 2]}, file)
    with pytest.raises(DataError, match="2 images but 3 labels"):
        build_dataset(DatasetConfig(name="cifar10", root=tmp_path))


def test_missing_batch_names_the_layout(tmp_path: Path) -> None:
    make_cifar10(tmp_path, np.random.default_rng(5))
    (tmp_path / "cifar-10-batches-py" / "data_batch_5").unlink()
    with pytest.raises(DataError, match="data_batch_5 is missing.*data_batch_1..data_batch_5"):
        build_dataset(DatasetConfig(name="cifar10", root=tmp_path))


def test_image_size_resizes_cifar(tmp_path: Path) -> None:
    make_cifar10(tmp_path, np.random.default_rng(6), per_batch=1)
    dataset = build_dataset(DatasetConfig(name="cifar10", root=tmp_path, image_size=16), views=("val", "strong"))
    views = dataset[0][0]
    assert views["val"].shape == views["strong"].shape == (3, 16, 16)
    assert dataset.input_dim == 3 * 16 * 16
