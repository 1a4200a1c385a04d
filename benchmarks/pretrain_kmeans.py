"""K-means ACC on MoCo-v2 pre-trained small_cnn features vs raw pixels vs a random-init small_cnn.

Usage:
    python benchmarks/pretrain_kmeans.py --dataset digits --epochs 100
    python benchmarks/pretrain_kmeans.py --dataset coil20 --root /work/shared/data/coil20 --image-size 32 --epochs 50

Prints one Markdown row per representation: K-means (k-means++, 10 restarts, K = number of classes) ACC/NMI,
mean ± std over three K-means seeds, on raw and on L2-normalised features.

Measured 2026-11-23 on 2 shared CPU cores (1 torch thread), seed 0, ACC with L2-normalised features:
digits (100 ep, 68 s): MoCo-v2 90.0 ± 0.0, raw pixels 79.8 ± 0.2, random-init 65.5 ± 0.4;
COIL-20 at 32 px (50 ep, 241 s): MoCo-v2 75.2 ± 0.2, raw pixels 67.1 ± 2.7, random-init 59.7 ± 0.8.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans

from trainables.config import DatasetConfig, EncoderConfig
from trainables.data import build_dataset
from trainables.features import compute_features
from trainables.metrics import cluster_accuracy, nmi
from trainables.models.encoders import build_encoder
from trainables.pretrain.train import PretrainOptions, pretrain

KMEANS_SEEDS = (0, 1, 2)


def kmeans_scores(features: np.ndarray, targets: np.ndarray, clusters: int) -> dict[str, str]:
    """ACC and NMI (percent, mean ± std over KMEANS_SEEDS) on raw and L2-normalised features."""
    scores = {}
    for label, data in (("raw", features), ("l2", features / np.linalg.norm(features, axis=1, keepdims=True))):
        runs = [KMeans(clusters, n_init=10, random_state=seed).fit_predict(data) for seed in KMEANS_SEEDS]
        for metric, function in (("acc", cluster_accuracy), ("nmi", nmi)):
            values = 100 * np.array([function(targets, labels) for labels in runs])
            scores[f"{metric}_{label}"] = f"{values.mean():.1f} ± {values.std():.1f}"
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--root", type=Path)
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset_config = DatasetConfig(name=args.dataset, root=args.root, image_size=args.image_size)
    dataset = build_dataset(dataset_config)
    targets, cpu = np.asarray(dataset.targets), torch.device("cpu")
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "moco.ckpt"
        result = pretrain(dataset_config, "small_cnn", args.epochs, checkpoint, PretrainOptions(seed=args.seed))
        pretrained = build_encoder(EncoderConfig(arch="small_cnn", checkpoint=checkpoint), dataset)
        representations = {f"MoCo-v2 small_cnn ({args.epochs} ep, {result.seconds:.0f} s)":
                            compute_features(pretrained, dataset, cpu)}
    pixels = torch.cat([views["val"].flatten(1) for views, _, _ in torch.utils.data.DataLoader(dataset, 512)])
    representations["raw pixels"] = pixels.numpy()
    torch.manual_seed(args.seed)
    representations["random-init small_cnn"] = compute_features(
        build_encoder(EncoderConfig(arch="small_cnn"), dataset), dataset, cpu)
    print(f"| {args.dataset} | ACC raw | ACC L2 | NMI raw | NMI L2 |")
    print("|---|---|---|---|---|")
    for name, features in representations.items():
        s = kmeans_scores(np.asarray(features, dtype=np.float64), targets, dataset.num_classes)
        print(f"| {name} | {s['acc_raw']} | {s['acc_l2']} | {s['nmi_raw']} | {s['nmi_l2']} |")


if __name__ == "__main__":
    main()
