"""What a dataset registration holds: how to load it from disk and the data its views need.

A format module registers one ``DatasetSpec`` per dataset name; per-dataset facts (normalisation,
the expected layout shown in errors, whether torchvision can download it) are data on the spec, so
nothing elsewhere branches on dataset names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainables.data.sources import SampleSource
from trainables.data.views import ViewPolicy

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class LoadRequest:
    """Where to read a dataset from, the user's format options (``dataset.options``) and the side
    images will be resized to (``load_size``; None keeps the native size), which loaders that decode
    image files of mixed sizes use to resize them while reading."""

    name: str
    root: Path | None
    options: dict[str, Any] = field(default_factory=dict)
    load_size: int | None = None


@dataclass
class LoadedData:
    """The samples of a dataset, its labels [N] (int64, 0..num_classes-1) and its class count."""

    source: SampleSource
    targets: np.ndarray
    num_classes: int


@dataclass(frozen=True)
class DatasetSpec:
    """One registered dataset.

    ``load`` reads the data (raises DataError); ``layout`` describes the expected files for error
    messages; ``mean``/``std`` are the per-channel normalisation (None: 0.5 per channel);
    ``val_resize_ratio`` is the resize-then-centre-crop ratio of the val view (256/224 for ImageNet
    subsets); ``download`` fetches the files into the root with torchvision, where it can, and
    ``is_present`` says whether they are already there; ``options`` names the keys the loader reads
    from ``dataset.options``; ``views`` is what its training views may do and keep the class.
    """

    name: str
    load: Callable[[LoadRequest], LoadedData]
    layout: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    val_resize_ratio: float = 1.0
    needs_root: bool = True
    download: Callable[[Path], None] | None = None
    is_present: Callable[[Path], bool] | None = None
    options: tuple[str, ...] = ()
    views: ViewPolicy = ViewPolicy()

    def normalisation(self, num_channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel (mean, std); the compute-free default is 0.5 for every channel."""
        mean = self.mean or (0.5,) * num_channels
        std = self.std or (0.5,) * num_channels
        return mean, std


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to the ``DATASETS`` registry under its name."""
    from trainables.data import DATASETS

    return DATASETS.register(spec.name)(spec)
