"""Datasets read from disk in their standard formats, chosen by name: ``DATASETS.get("coil20")``."""

from trainables.registry import DATASETS

# Importing the format modules registers their datasets.
from trainables.data import arrays, cifar, digits, folders, mnist, stl10  # noqa: E402, F401
from trainables.data.base import ClusteringDataset, build_dataset  # noqa: E402

__all__ = ["DATASETS", "ClusteringDataset", "build_dataset"]
