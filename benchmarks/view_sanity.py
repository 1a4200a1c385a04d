"""K-means ACC and label-free agreement (NMI with the val-view partition) on val-, weak- and strong-view features.

Usage:
    python benchmarks/view_sanity.py --encoders /tmp/views-enc --coil20 /work/shared/data/coil20

Image datasets use the small_cnn pre-trained by ``dcsweep pretrain`` (``<encoders>/<dataset>_small_cnn.ckpt``);
vector stand-ins (scikit-learn's digits as 64-d vectors, wine, breast cancer) use the raw standardised vectors as
features, since no encoder is pre-trained for them. K-means: k-means++, 3 restarts, K = number of classes, on
L2-normalised features; one view draw per seed (``--seeds``), mean over seeds.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from torch import nn

from trainables.config import DatasetConfig, EncoderConfig
from trainables.data import build_dataset
from trainables.metrics import cluster_accuracy, nmi
from trainables.models.encoders import build_encoder
from trainables.view_sanity import cluster_labels, view_features

VIEWS = ("val", "weak", "strong")


@dataclass(frozen=True)
class Case:
    label: str
    config: DatasetConfig
    checkpoint: Path | None


class Identity(nn.Module):
    """The raw vectors as features (vector data has no pre-trained encoder here)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def vector_cases(folder: Path) -> list[Case]:
    cases = []
    for name, loader in (("digits-64d", load_digits), ("wine", load_wine), ("breast_cancer", load_breast_cancer)):
        data = loader()
        path = folder / f"{name}.npz"
        np.savez(path, x=data.data.astype(np.float32), y=data.target)
        cases.append(Case(name, DatasetConfig(name="arrays", root=path), None))
    return cases


def row(case: Case, seeds: list[int]) -> str:
    dataset = build_dataset(case.config)
    encoder = (
        build_encoder(EncoderConfig(arch="small_cnn", checkpoint=case.checkpoint), dataset)
        if case.checkpoint is not None
        else Identity()
    )
    targets = np.asarray(dataset.targets)
    acc = {view: [] for view in VIEWS}
    agreement = {view: [] for view in VIEWS}
    for seed in seeds:
        labels = {
            view: cluster_labels(view_features(encoder, dataset, view, seed), dataset.num_classes, seed)
            for view in VIEWS
        }
        for view in VIEWS:
            acc[view].append(100 * cluster_accuracy(targets, labels[view]))
            agreement[view].append(nmi(labels["val"], labels[view]))
    mean = {view: float(np.mean(acc[view])) for view in VIEWS}
    return (
        f"| {case.label} | {mean['val']:.1f} | {mean['weak']:.1f} ({mean['weak'] / mean['val']:.2f}x) "
        f"| {mean['strong']:.1f} ({mean['strong'] / mean['val']:.2f}x) "
        f"| {np.mean(agreement['weak']):.2f} | {np.mean(agreement['strong']):.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", type=Path, required=True)
    parser.add_argument("--coil20", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = [Case("digits (8 px)", DatasetConfig(name="digits"), args.encoders / "digits_small_cnn.ckpt")]
    if args.coil20 is not None:
        cases.append(
            Case(
                "coil20 (32 px)",
                DatasetConfig(name="coil20", root=args.coil20, image_size=32),
                args.encoders / "coil20_small_cnn.ckpt",
            )
        )
    print("| dataset | val ACC | weak ACC | strong ACC | weak NMI vs val | strong NMI vs val |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for case in [*cases, *vector_cases(Path(folder))]:
            print(row(case, args.seeds), flush=True)


if __name__ == "__main__":
    main()
