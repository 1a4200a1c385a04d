"""Image folders: COIL-20 (real), ImageNet subsets filtered by wnid, Tiny-ImageNet, generic class folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import pytest
from PIL import Image

from trainables.config import DatasetConfig
from trainables.data import build_dataset
from trainables.data.folders import read_wnids
from trainables.errors import DataError


def save_image(path: Path, size: tuple[int, int], value: int, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, value, value)).save(path)


def test_coil20_has_1440_grayscale_images_in_20_classes(coil20_root: Path) -> None:
    dataset = build_dataset(DatasetConfig(name="coil20", root=coil20_root, image_size=16))
    assert len(dataset) == 1440 and dataset.num_classes == 20
    assert dataset.num_channels == 1 and dataset.image_size == 16
    assert np.bincount(dataset.targets).tolist() == [72] * 20
    expected = sorted((coil20_root / "obj07").iterdir())[0]
    reference = np.asarray(Image.open(expected).convert("L").resize((16, 16), Image.Resampling.BILINEAR))
    first_of_class = int(np.flatnonzero(dataset.targets == 6)[0])
    np.testing.assert_array_equal(dataset.source.samples(torch.tensor([first_of_class]))[0, 0].numpy(), reference)


def test_shipped_wnid_lists_have_10_and_15_distinct_classes() -> None:
    for filename, count in [("imagenet10_wnids.txt", 10), ("imagenet_dogs_wnids.txt", 15)]:
        wnids = read_wnids(filename)
        assert len(set(wnids)) == count and all(w.startswith("n") and len(w) == 9 for w in wnids)


@pytest.mark.parametrize("name, wnid_file", [("imagenet10", "imagenet10_wnids.txt"),
                                             ("imagenet_dogs", "imagenet_dogs_wnids.txt")])
def test_imagenet_subset_keeps_only_its_wnids(tmp_path: Path, name: str, wnid_file: str) -> None:
    wnids = read_wnids(wnid_file)
    for label, wnid in enumerate(wnids):
        for i in range(label % 3 + 1):
            save_image(tmp_path / wnid / f"{wnid}_{i}.JPEG", (40, 30), value=label)
    save_image(tmp_path / "n09999999" / "n09999999_0.JPEG", (40, 30), value=255)
    dataset = build_dataset(DatasetConfig(name=name, root=tmp_path, image_size=16), views=("val", "weak"))
    expected = [label for label in range(len(wnids)) for _ in range(label % 3 + 1)]
    assert dataset.num_classes == len(wnids) and len(dataset) == len(expected)
    np.testing.assert_array_equal(dataset.targets, expected)
    views, _, label = dataset[len(dataset) - 1]
    assert views["val"].shape == views["weak"].shape == (3, 16, 16)
    # A flat grey image stays flat: val = (v/255 - mean)/std with ImageNet statistics.
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    expected_val = (label / 255.0 - mean) / std
    np.testing.assert_allclose(views["val"].mean(dim=(1, 2)).numpy(), expected_val, atol=0.02)


def test_imagenet_subset_missing_wnids_are_named(tmp_path: Path) -> None:
    save_image(tmp_path / "n02056570" / "a.JPEG", (8, 8), 0)
    with pytest.raises(DataError, match="lacks the class folders n02085936"):
        build_dataset(DatasetConfig(name="imagenet10", root=tmp_path))


def test_tiny_imagenet_reads_train_images_per_wnid(tmp_path: Path) -> None:
    train = tmp_path / "tiny-imagenet-200" / "train"
    for wnid, count in [("n01443537", 2), ("n01629819", 3)]:
        for i in range(count):
            save_image(train / wnid / "images" / f"{wnid}_{i}.JPEG", (64, 64), 10 * count)
    dataset = build_dataset(DatasetConfig(name="tiny_imagenet", root=tmp_path))
    assert len(dataset) == 5 and dataset.num_classes == 2 and dataset.image_size == 64
    np.testing.assert_array_equal(dataset.targets, [0, 0, 1, 1, 1])
    assert dataset[0][0]["val"].shape == (3, 64, 64)


def test_image_folder_labels_by_sorted_class_name(tmp_path: Path) -> None:
    for name, value, count in [("zebra", 200, 2), ("ant", 50, 3)]:
        for i in range(count):
            save_image(tmp_path / name / f"{i}.png", (12, 12), value, mode="L")
    dataset = build_dataset(DatasetConfig(name="image_folder", root=tmp_path))
    assert dataset.num_channels == 1 and dataset.num_classes == 2 and dataset.image_size == 12
    np.testing.assert_array_equal(dataset.targets, [0, 0, 0, 1, 1])
    assert int(dataset.source.samples(torch.tensor([4])).max()) == 200


def test_image_folder_of_mixed_sizes_needs_image_size(tmp_path: Path) -> None:
    save_image(tmp_path / "a" / "0.png", (12, 12), 0)
    save_image(tmp_path / "b" / "0.png", (20, 12), 0)
    with pytest.raises(DataError, match="pass dataset.image_size") as error:
        build_dataset(DatasetConfig(name="image_folder", root=tmp_path))
    assert "\n" not in str(error.value)
    dataset = build_dataset(DatasetConfig(name="image_folder", root=tmp_path, image_size=10))
    assert dataset[1][0]["val"].shape == (3, 10, 10)


def test_corrupt_image_file_is_a_data_error(tmp_path: Path) -> None:
    save_image(tmp_path / "a" / "0.png", (12, 12), 0)
    (tmp_path / "a" / "1.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image .*1.png"):
        build_dataset(DatasetConfig(name="image_folder", root=tmp_path))
