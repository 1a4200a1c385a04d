"""Encoder features of a whole dataset, extracted once and cached content-addressed on disk.

The cache key is the sha256 of (dataset.cache_key(), encoder key, FEATURE_VERSION); the features live in
``<cache_dir>/features/<key>.npy`` and are returned memory-mapped. Writes happen under a file lock into a
temporary file that is then renamed, so parallel trials (and nodes on a shared filesystem) never see a partial file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from torch import nn
from torch.utils.data import DataLoader

FEATURE_VERSION = "1"
VAL_VIEW = "val"


def feature_cache_key(dataset_key: str, encoder_key: str) -> str:
    """sha256 hex digest naming the features of one (dataset, encoder weights) pair."""
    payload = "\x1f".join([dataset_key, encoder_key, FEATURE_VERSION])
    return hashlib.sha256(payload.encode()).hexdigest()


def feature_cache_path(cache_dir: str | Path, key: str) -> Path:
    """Where the features with ``key`` are stored under ``cache_dir``."""
    return Path(cache_dir).expanduser() / "features" / f"{key}.npy"


@torch.no_grad()
def compute_features(encoder: nn.Module, dataset: Any, device: torch.device, batch_size: int = 512) -> np.ndarray:
    """Features [N, D] (float32) of every sample's val view, in eval mode; the encoder's mode is restored."""
    loader = DataLoader(dataset.with_views((VAL_VIEW,)), batch_size=batch_size, shuffle=False)
    was_training = encoder.training
    encoder.eval().to(device)
    features: np.ndarray | None = None
    try:
        for views, indices, _ in loader:
            batch = encoder(views[VAL_VIEW].to(device)).float().cpu().numpy()
            if features is None:
                features = np.empty((len(dataset), batch.shape[1]), dtype=np.float32)
            features[indices.numpy()] = batch
    finally:
        encoder.train(was_training)
    if features is None:
        raise ValueError("cannot extract features of an empty dataset")
    return features


def _write_atomically(path: Path, array: np.ndarray) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.save(stream, array)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def extract_features(
    encoder: nn.Module,
    dataset: Any,
    cache_dir: str | Path,
    encoder_key: str,
    device: torch.device,
    batch_size: int = 512,
) -> np.ndarray:
    """Features [N, D] of ``dataset``'s val view, computed once per (dataset, encoder_key) and then read from cache.

    Args:
        encoder: maps a val-view batch to [B, D].
        dataset: a ClusteringDataset (``cache_key()``, ``with_views``, items ``(views, index, label)``).
        encoder_key: identifies the weights, e.g. ``encoder_cache_key(config.encoder, seed)``.

    Returns:
        A read-only memory-mapped float32 array [N, D].
    """
    path = feature_cache_path(cache_dir, feature_cache_key(dataset.cache_key(), encoder_key))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            if not path.exists():
                _write_atomically(path, compute_features(encoder, dataset, device, batch_size))
    return np.load(path, mmap_mode="r")
