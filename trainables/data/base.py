"""ClusteringDataset: samples, labels and named views; ``build_dataset`` makes one from a DatasetConfig."""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from trainables.config import DatasetConfig
from trainables.data.sources import SampleSource
from trainables.data.spec import DatasetSpec, LoadedData, LoadRequest
from trainables.data.views import ViewSettings, build_views
from trainables.errors import ConfigError, DataError

DATA_ENV = "DCSWEEP_DATA"
CACHE_KEY_VERSION = 1


class ClusteringDataset(Dataset):
    """A dataset to cluster: item ``i`` is ``({view name: tensor}, i, label)``.

    Views are made a batch at a time (``view_batch``); a DataLoader reads whole batches through
    ``__getitems__``, so its items come from the batched views too.

    Attributes: ``name``; ``targets`` int64 [N]; ``num_classes``; ``is_image``; ``num_channels``
    (0 for vectors); ``image_size`` (None for vectors); ``input_dim`` (C*H*W for images, D for
    vectors); ``views`` the view names each item carries; ``view_policy`` the dataset's registered policy.
    """

    def __init__(
        self,
        name: str,
        source: SampleSource,
        targets: np.ndarray,
        num_classes: int,
        settings: ViewSettings,
        views: tuple[str, ...],
        identity: dict[str, object],
    ) -> None:
        self.name = name
        self.source = source
        self.targets = targets
        self.num_classes = num_classes
        self.is_image = source.is_image
        self.num_channels = source.num_channels if source.is_image else 0
        self.image_size = settings.image_size
        self.input_dim = (
            self.num_channels * settings.image_size**2 if source.is_image else source.input_dim
        )
        self._settings = settings
        self.view_policy = settings.policy
        self._identity = identity
        self.views = tuple(views)
        self._transforms = build_views(self.views, self.is_image, settings)

    def with_views(self, views: tuple[str, ...] | list[str]) -> ClusteringDataset:
        """A shallow copy sharing the samples whose items carry ``views`` instead."""
        other = copy.copy(self)
        other.views = tuple(views)
        other._transforms = build_views(other.views, self.is_image, self._settings)
        return other

    def cache_key(self) -> str:
        """A stable key of the data and its val transform, for content-addressed feature caches."""
        payload = json.dumps(
            {**self._identity, "num_samples": len(self), "version": CACHE_KEY_VERSION},
            sort_keys=True,
            default=str,
        )
        return f"{self.name}-{hashlib.sha256(payload.encode()).hexdigest()[:20]}"

    def __len__(self) -> int:
        return len(self.source)

    def view_batch(
        self, indices: Tensor | np.ndarray | list[int], generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """{view name: [n, ...] float32} of the samples ``indices`` [n], for each of ``views``.

        Randomness comes from ``generator`` (None: torch's global RNG), one view after the other in the order of
        ``views``: the same generator state and indices give bitwise the same tensors.
        """
        samples = self.source.samples(torch.as_tensor(indices, dtype=torch.int64))
        return {name: transform(samples, generator) for name, transform in self._transforms.items()}

    def __getitems__(self, indices: list[int]) -> list[tuple[dict[str, Tensor], int, int]]:
        """The items ``indices``, their views made as one batch (DataLoader's batched fetch)."""
        batch = self.view_batch(indices)
        return [
            ({name: view[row] for name, view in batch.items()}, int(index), int(self.targets[index]))
            for row, index in enumerate(indices)
        ]

    def __getitem__(self, index: int) -> tuple[dict[str, Tensor], int, int]:
        return self.__getitems__([int(index)])[0]


def resolve_root(config: DatasetConfig, spec: DatasetSpec) -> Path | None:
    """``dataset.root``, else ``$DCSWEEP_DATA/<name>``; None for datasets that need no files.

    Raises:
        DataError: no root is given, or it does not exist (after downloading, if asked).
    """
    if not spec.needs_root:
        return None
    if config.root is not None:
        root = Path(config.root).expanduser()
    elif os.environ.get(DATA_ENV):
        root = Path(os.environ[DATA_ENV]).expanduser() / spec.name
    else:
        raise DataError(
            f"dataset {spec.name!r} has no root; pass dataset.root or set ${DATA_ENV} so that "
            f"${DATA_ENV}/{spec.name} is laid out as {spec.layout}"
        )
    if config.download:
        _download(spec, root)
    if not root.exists():
        raise DataError(
            f"dataset root {root} does not exist; pass dataset.root pointing to a folder laid out as "
            f"{spec.layout}"
        )
    return root.resolve()


def _download(spec: DatasetSpec, root: Path) -> None:
    if spec.download is None:
        raise DataError(
            f"dataset {spec.name!r} cannot be downloaded; set dataset.download to false and place the "
            f"files at {root} laid out as {spec.layout}"
        )
    if spec.is_present is not None and root.exists() and spec.is_present(root):
        return
    root.mkdir(parents=True, exist_ok=True)
    try:
        spec.download(root)
    except (OSError, RuntimeError) as error:
        raise DataError(
            f"downloading {spec.name!r} into {root} failed ({error}); check the network or place the "
            f"files there laid out as {spec.layout}"
        ) from None


def _sized_source(
    loaded: LoadedData, spec: DatasetSpec, image_size: int | None
) -> tuple[SampleSource, int | None]:
    """Resize images to the size the val crop reads from; returns the source and the crop size."""
    source = loaded.source
    if not source.is_image:
        if image_size is not None:
            raise DataError(
                f"dataset {spec.name!r} holds vectors, so dataset.image_size={image_size} does not apply; "
                "remove dataset.image_size"
            )
        return source, None
    size = image_size or source.native_size
    if size is None:
        raise DataError(
            f"the images of dataset {spec.name!r} are not square; pass dataset.image_size to resize and "
            "centre-crop them"
        )
    return source.resized(round(size * spec.val_resize_ratio)), size


def build_dataset(config: DatasetConfig, views: tuple[str, ...] = ("val",)) -> ClusteringDataset:
    """Load the dataset named by ``config`` with the given views.

    Raises:
        ConfigError: unknown dataset or view name.
        DataError: missing or malformed files.
    """
    from trainables.data import DATASETS

    spec: DatasetSpec = DATASETS.get(config.name)
    _check_options(config, spec)
    root = resolve_root(config, spec)
    load_size = round(config.image_size * spec.val_resize_ratio) if config.image_size else None
    request = LoadRequest(name=spec.name, root=root, options=dict(config.options), load_size=load_size)
    loaded = spec.load(request)
    loaded.targets = np.asarray(loaded.targets, dtype=np.int64)
    _check_labels(loaded, spec.name)
    source, image_size = _sized_source(loaded, spec, config.image_size)
    if source.is_image:
        mean, std = spec.normalisation(source.num_channels)
        settings = ViewSettings(image_size=image_size, mean=mean, std=std, policy=spec.views)
    else:
        settings = ViewSettings(image_size=None, policy=spec.views, feature_std=source.vectors.std(dim=0))
    identity = {
        "name": spec.name,
        "root": root,
        "options": config.options,
        "image_size": image_size,
        "val_resize_ratio": spec.val_resize_ratio,
        "mean": settings.mean,
        "std": settings.std,
    }
    return ClusteringDataset(
        spec.name, source, loaded.targets, loaded.num_classes, settings, tuple(views), identity
    )


def _check_options(config: DatasetConfig, spec: DatasetSpec) -> None:
    unknown = sorted(set(config.options) - set(spec.options))
    if unknown:
        allowed = ", ".join(spec.options) or "none"
        raise ConfigError(
            f"dataset.options.{unknown[0]} is not an option of dataset {spec.name!r}; "
            f"remove it (allowed: {allowed})"
        )


def _check_labels(loaded: LoadedData, name: str) -> None:
    targets = loaded.targets
    if len(targets) != len(loaded.source):
        raise DataError(
            f"dataset {name!r} has {len(loaded.source)} samples but {len(targets)} labels; "
            "give exactly one label per sample"
        )
    if len(targets) == 0:
        raise DataError(f"dataset {name!r} is empty; point dataset.root at a folder that holds its files")
    if targets.min() < 0 or targets.max() >= loaded.num_classes:
        raise DataError(
            f"dataset {name!r} has labels outside 0..{loaded.num_classes - 1}; check the label files"
        )
