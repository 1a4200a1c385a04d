"""K-means ACC on vector data: raw standardised vectors against the features of a pre-trained (and a random) mlp.

The reference rows for ``paper/table12_nonimage``: what clustering the inputs, or the encoder's features, gives
before any SCAN training. K-means is ``trainables.neighbours.kmeans`` (10 restarts, K = number of classes) over
three seeds; features are taken raw and L2-normalised (SCAN mines its neighbours on L2-normalised features).

Usage:
    python benchmarks/tabular_kmeans.py --root data.csv [--option label_column=class] [--checkpoint mlp.pth]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from orchestrator.commands.pretrain import parse_dataset_options
from trainables.config import DatasetConfig, EncoderConfig
from trainables.data import build_dataset
from trainables.features import compute_features
from trainables.metrics import cluster_accuracy, nmi
from trainables.models.encoders import build_encoder
from trainables.neighbours import kmeans

KMEANS_SEEDS = (0, 1, 2)
RESTARTS = 10


def scores(features: np.ndarray, targets: np.ndarray, clusters: int) -> str:
    """'ACC ± std / NMI ± std' in percent over KMEANS_SEEDS."""
    runs = [kmeans(features, clusters, seed, RESTARTS)[1] for seed in KMEANS_SEEDS]
    acc = 100 * np.array([cluster_accuracy(targets, labels) for labels in runs])
    mutual = 100 * np.array([nmi(targets, labels) for labels in runs])
    return f"{acc.mean():.1f} ± {acc.std():.1f} / {mutual.mean():.1f} ± {mutual.std():.1f}"


def l2(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--checkpoint", type=Path)
    args = parser.parse_args()
    dataset = build_dataset(DatasetConfig(name="arrays", root=args.root, options=parse_dataset_options(args.option)))
    targets, cpu = np.asarray(dataset.targets), torch.device("cpu")
    raw = dataset.source.vectors.numpy()
    representations = {"raw standardised vectors": raw}
    torch.manual_seed(0)
    representations["random-init mlp"] = compute_features(build_encoder(EncoderConfig(arch="mlp"), dataset), dataset, cpu)
    if args.checkpoint is not None:
        encoder = build_encoder(EncoderConfig(arch="mlp", checkpoint=args.checkpoint), dataset)
        representations["pre-trained mlp"] = compute_features(encoder, dataset, cpu)
    print(f"| {args.root.name} (N={len(dataset)}, D={dataset.input_dim}, K={dataset.num_classes}) "
          "| ACC / NMI | ACC / NMI, L2-normalised |")
    print("|---|---|---|")
    for name, features in representations.items():
        features = np.asarray(features, dtype=np.float32)
        print(f"| {name} | {scores(features, targets, dataset.num_classes)} "
              f"| {scores(l2(features), targets, dataset.num_classes)} |")


if __name__ == "__main__":
    main()
