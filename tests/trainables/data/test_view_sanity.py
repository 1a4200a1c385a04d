"""The registered view policies keep the class on real data: K-means ACC on weak-view features of a MoCo-v2
pre-trained small_cnn stays >= 0.9x, and on strong-view features >= 0.75x, its ACC on val-view features.

About 30 s of CPU for both datasets (most of it COIL-20's pre-training).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainables.config import DatasetConfig, EncoderConfig
from trainables.data import build_dataset
from trainables.metrics import cluster_accuracy
from trainables.models.encoders import build_encoder
from trainables.pretrain.train import PretrainOptions, pretrain
from trainables.view_sanity import cluster_labels, view_features

COIL20_ROOT = Path("/work/shared/data/coil20")
WEAK_RATIO = 0.9
STRONG_RATIO = 0.75
PRETRAIN_EPOCHS = 6  # a short MoCo-v2 run in small batches; enough steps for crop invariance (4 epochs is not)

CASES = [
    pytest.param(
        DatasetConfig(name="digits"), PretrainOptions(device="cpu", batch_size=64, queue_size=1024), id="digits"
    ),
    pytest.param(
        DatasetConfig(name="coil20", root=COIL20_ROOT, image_size=32),
        PretrainOptions(device="cpu", batch_size=64, queue_size=1024, lr=0.24),
        id="coil20",
        marks=pytest.mark.skipif(not COIL20_ROOT.is_dir(), reason="COIL-20 is not at /work/shared/data/coil20"),
    ),
]


@pytest.mark.parametrize("config, options", CASES)
def test_views_keep_kmeans_accuracy(config: DatasetConfig, options: PretrainOptions, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    checkpoint = tmp_path / "encoder.ckpt"
    pretrain(config, "small_cnn", PRETRAIN_EPOCHS, checkpoint, options)
    dataset = build_dataset(config)
    encoder = build_encoder(EncoderConfig(arch="small_cnn", checkpoint=checkpoint), dataset)
    targets = np.asarray(dataset.targets)
    acc = {}
    for view in ("val", "weak", "strong"):
        labels = cluster_labels(view_features(encoder, dataset, view, 0), dataset.num_classes, 0)
        acc[view] = cluster_accuracy(targets, labels)
    assert acc["weak"] >= WEAK_RATIO * acc["val"], acc
    assert acc["strong"] >= STRONG_RATIO * acc["val"], acc
