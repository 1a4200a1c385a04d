"""Feature cache: correct values, cache hits, distinct keys and two processes racing for the same entry."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trainables.features import extract_features, feature_cache_key


class TinyDataset:
    """Random 1x4x4 images with a val view; each ``with_views`` call leaves a marker file (counts extractions)."""

    def __init__(self, n: int = 37, marker_dir: Path | None = None, key: str = "tiny-v1") -> None:
        self.images = torch.randn(n, 1, 4, 4, generator=torch.Generator().manual_seed(0))
        self.targets = torch.arange(n) % 3
        self.marker_dir = marker_dir
        self.key = key

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[dict[str, torch.Tensor], int, int]:
        return {"val": self.images[index]}, index, int(self.targets[index])

    def cache_key(self) -> str:
        return self.key

    def with_views(self, views: tuple[str, ...]) -> TinyDataset:
        assert views == ("val",)
        if self.marker_dir is not None:
            (self.marker_dir / f"extract-{os.getpid()}").touch()
        return self


def tiny_encoder() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 5), nn.BatchNorm1d(5), nn.Dropout(0.5))


def expected_features(encoder: nn.Module, dataset: TinyDataset) -> np.ndarray:
    """Direct computation: one eval-mode forward over the whole tensor."""
    with torch.no_grad():
        return encoder.eval()(dataset.images).numpy()


def test_extracts_eval_mode_features_and_restores_training_mode(tmp_path: Path) -> None:
    encoder, dataset = tiny_encoder(), TinyDataset()
    encoder.train()
    features = extract_features(encoder, dataset, tmp_path, "enc", torch.device("cpu"), batch_size=8)
    assert encoder.training
    assert isinstance(features, np.memmap) and features.dtype == np.float32
    np.testing.assert_allclose(features, expected_features(encoder, dataset), rtol=1e-5, atol=1e-6)


def test_second_request_is_a_cache_hit(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    dataset = TinyDataset(marker_dir=markers)
    first = extract_features(tiny_encoder(), dataset, tmp_path / "cache", "enc", torch.device("cpu"))
    untrained_other_weights = nn.Sequential(nn.Flatten(), nn.Linear(16, 5))
    second = extract_features(untrained_other_weights, dataset, tmp_path / "cache", "enc", torch.device("cpu"))
    assert len(list(markers.iterdir())) == 1
    np.testing.assert_array_equal(first, second)


def test_keys_separate_datasets_and_encoders(tmp_path: Path) -> None:
    assert len({feature_cache_key(d, e) for d in ("a", "b") for e in ("x", "y")}) == 4
    extract_features(tiny_encoder(), TinyDataset(), tmp_path, "x", torch.device("cpu"))
    extract_features(tiny_encoder(), TinyDataset(key="other"), tmp_path, "x", torch.device("cpu"))
    extract_features(tiny_encoder(), TinyDataset(), tmp_path, "y", torch.device("cpu"))
    assert len(list((tmp_path / "features").glob("*.npy"))) == 3


def _extract_in_child(cache_dir: str, marker_dir: str, barrier, results) -> None:
    dataset = TinyDataset(n=300, marker_dir=Path(marker_dir))
    barrier.wait()
    features = extract_features(tiny_encoder(), dataset, cache_dir, "enc", torch.device("cpu"), batch_size=16)
    results.put(np.asarray(features).tobytes())


def test_two_processes_racing_compute_once_and_agree(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    markers = tmp_path / "markers"
    markers.mkdir()
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_extract_in_child, args=(str(tmp_path / "c"), str(markers), barrier, results))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    outputs = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert outputs[0] == outputs[1]
    assert len(list(markers.iterdir())) == 1
    stored = list((tmp_path / "c" / "features").iterdir())
    assert not [p for p in stored if p.suffix == ".tmp"]
    expected = expected_features(tiny_encoder(), TinyDataset(n=300))
    np.testing.assert_allclose(np.load(next(p for p in stored if p.suffix == ".npy")), expected, rtol=1e-5, atol=1e-6)


def test_empty_dataset_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty"):
        extract_features(tiny_encoder(), TinyDataset(n=0), tmp_path, "enc", torch.device("cpu"))
