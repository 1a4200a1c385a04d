"""build_dataset: digits, root resolution, registry errors, download policy, with_views and cache keys."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader

from trainables.config import DatasetConfig
from trainables.data import DATASETS, build_dataset
from trainables.data.base import resolve_root
from trainables.data.spec import DatasetSpec
from trainables.errors import ConfigError, DataError, DcsweepError
from trainables.methods.base import dataset_view_source


def test_digits_are_1797_8x8_images_in_10_classes() -> None:
    reference = load_digits()
    dataset = build_dataset(DatasetConfig())
    assert len(dataset) == 1797 and dataset.num_classes == 10
    assert dataset.is_image and dataset.num_channels == 1 and dataset.image_size == 8 and dataset.input_dim == 64
    assert dataset.targets.dtype == np.int64
    np.testing.assert_array_equal(dataset.targets, reference.target)
    val = dataset[11][0]["val"]
    np.testing.assert_allclose(val[0].numpy(), (reference.images[11] / 16.0 - 0.5) / 0.5, atol=2.5 / 255)


def test_every_item_batches_through_a_dataloader() -> None:
    dataset = build_dataset(DatasetConfig(), views=("val", "weak", "strong"))
    views, index, label = next(iter(DataLoader(dataset, batch_size=5)))
    assert set(views) == {"val", "weak", "strong"} and views["strong"].shape == (5, 1, 8, 8)
    assert index.tolist() == list(range(5)) and label.tolist() == dataset.targets[:5].tolist()


def test_unknown_dataset_name_is_a_config_error_listing_choices() -> None:
    with pytest.raises(ConfigError, match="unknown dataset 'cifar11'; choose one of: .*cifar10"):
        build_dataset(DatasetConfig(name="cifar11"))


def test_missing_root_is_a_one_line_error_with_layout(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        build_dataset(DatasetConfig(name="coil20", root=tmp_path / "nope"))
    message = str(error.value)
    assert "nope does not exist" in message and "obj01..obj20" in message and "\n" not in message


def test_no_root_and_no_env_names_both_fixes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DCSWEEP_DATA", raising=False)
    with pytest.raises(DcsweepError, match="pass dataset.root or set \\$DCSWEEP_DATA"):
        build_dataset(DatasetConfig(name="stl10"))


def test_root_defaults_to_dcsweep_data_slash_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCSWEEP_DATA", str(tmp_path))
    (tmp_path / "arrays").mkdir()
    np.savez(tmp_path / "arrays" / "data.npz", x=np.arange(12.0).reshape(6, 2), y=np.arange(6) % 2)
    assert len(build_dataset(DatasetConfig(name="arrays"))) == 6


def test_download_is_refused_for_formats_torchvision_cannot_fetch(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'coil20' cannot be downloaded; set dataset.download to false"):
        build_dataset(DatasetConfig(name="coil20", root=tmp_path, download=True))


def test_downloadable_formats_declare_a_downloader() -> None:
    downloadable = {name for name in DATASETS.names() if DATASETS.get(name).download is not None}
    assert downloadable == {"cifar10", "cifar20", "stl10", "mnist"}


def test_with_views_shares_samples_and_changes_views() -> None:
    dataset = build_dataset(DatasetConfig())
    strong = dataset.with_views(("weak", "strong"))
    assert dataset.views == ("val",) and strong.views == ("weak", "strong")
    assert strong.source is dataset.source and set(strong[0][0]) == {"weak", "strong"}
    with pytest.raises(ConfigError, match="unknown image view 'sharp'"):
        dataset.with_views(("sharp",))


def test_cache_key_is_stable_and_tracks_size_and_root(tmp_path: Path) -> None:
    first = build_dataset(DatasetConfig()).cache_key()
    assert first == build_dataset(DatasetConfig(), views=("strong",)).cache_key()
    np.savez(tmp_path / "a.npz", x=np.arange(8.0).reshape(4, 2), y=[0, 1, 0, 1])
    np.savez(tmp_path / "b.npz", x=np.arange(8.0).reshape(4, 2), y=[0, 1, 0, 1])
    key_a = build_dataset(DatasetConfig(name="arrays", root=tmp_path / "a.npz")).cache_key()
    key_b = build_dataset(DatasetConfig(name="arrays", root=tmp_path / "b.npz")).cache_key()
    assert len({first, key_a, key_b}) == 3
    assert build_dataset(DatasetConfig(image_size=6)).cache_key() != first


def test_every_registered_dataset_has_a_layout_and_normalisation_per_channel() -> None:
    for name in DATASETS.names():
        spec = DATASETS.get(name)
        assert spec.layout and spec.val_resize_ratio >= 1
        for channels in (1, 3):
            mean, std = spec.normalisation(channels)
            assert len(mean) == len(std) and all(s > 0 for s in std)


def test_views_are_repeatable_with_torch_seed() -> None:
    dataset = build_dataset(DatasetConfig(), views=("weak", "strong"))
    torch.manual_seed(3)
    first = [dataset[i][0] for i in range(4)]
    torch.manual_seed(3)
    second = [dataset[i][0] for i in range(4)]
    for a, b in zip(first, second):
        torch.testing.assert_close(a["weak"], b["weak"], rtol=0, atol=0)
        torch.testing.assert_close(a["strong"], b["strong"], rtol=0, atol=0)


def test_unknown_dataset_option_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="dataset.options.colour is not an option of dataset 'coil20'"):
        build_dataset(DatasetConfig(name="coil20", root=tmp_path, options={"colour": True}))


def fake_spec(calls: list[Path], fail: bool = False) -> DatasetSpec:
    def download(root: Path) -> None:
        calls.append(root)
        if fail:
            raise OSError("network unreachable")
        (root / "payload.bin").write_bytes(b"x")

    return DatasetSpec(
        name="fake",
        load=lambda request: None,
        layout="<root>/payload.bin",
        download=download,
        is_present=lambda root: (root / "payload.bin").is_file(),
    )


def test_download_runs_only_when_asked_and_files_are_missing(tmp_path: Path) -> None:
    calls: list[Path] = []
    spec = fake_spec(calls)
    root = tmp_path / "fake"
    with pytest.raises(DataError, match="does not exist"):
        resolve_root(DatasetConfig(root=root), spec)
    assert resolve_root(DatasetConfig(root=root, download=True), spec) == root.resolve()
    assert resolve_root(DatasetConfig(root=root, download=True), spec) == root.resolve()
    assert calls == [root]


def test_failed_download_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="downloading 'fake' into .* failed \\(network unreachable\\)"):
        resolve_root(DatasetConfig(root=tmp_path / "fake", download=True), fake_spec([], fail=True))


@pytest.mark.parametrize("name", [n for n in DATASETS.names() if DATASETS.get(n).needs_root])
def test_every_dataset_explains_an_empty_root_in_one_line(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError) as error:
        build_dataset(DatasetConfig(name=name, root=tmp_path))
    message = str(error.value)
    assert str(tmp_path) in message and "\n" not in message and "; " in message


def test_dataset_with_all_views_survives_pickling_for_worker_processes() -> None:
    dataset = build_dataset(DatasetConfig(), views=("val", "weak", "strong"))
    copy = pickle.loads(pickle.dumps(dataset))
    torch.manual_seed(7)
    expected = dataset[3][0]
    torch.manual_seed(7)
    for view, tensor in copy[3][0].items():
        torch.testing.assert_close(tensor, expected[view], rtol=0, atol=0)


def test_scan_view_source_makes_one_views_batch_per_call() -> None:
    dataset = build_dataset(DatasetConfig(), views=("weak", "strong"))
    indices = torch.tensor([3, 1000, 42])
    torch.manual_seed(9)
    loaded = dataset_view_source(dataset)(indices, "strong")
    torch.manual_seed(9)
    assert torch.equal(loaded, dataset.with_views(("strong",)).view_batch(indices)["strong"])


def test_a_dataloaders_batch_is_one_views_batch() -> None:
    dataset = build_dataset(DatasetConfig(), views=("weak", "strong"))
    order = [7, 1, 1500, 64]
    torch.manual_seed(2)  # the loader seeds itself from its own generator, as the engine's does
    views, index, label = next(iter(DataLoader(dataset, batch_sampler=[order], generator=torch.Generator())))
    torch.manual_seed(2)
    expected = dataset.view_batch(order)
    assert all(torch.equal(views[name], expected[name]) for name in expected)
    assert index.tolist() == order and label.tolist() == dataset.targets[order].tolist()
