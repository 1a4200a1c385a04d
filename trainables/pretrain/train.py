"""``pretrain``: MoCo-v2 pre-training of an encoder on a dataset's images, saved in a loadable checkpoint.

The checkpoint is ``{"state_dict": {"backbone.<key>": tensor}, "arch": ..., ...}``, which
``load_encoder_checkpoint`` reads as the backbone format. Meant for small datasets (digits, COIL-20): the val
views are held in memory and augmented in batches on the training device.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader

from trainables.config import DatasetConfig, EncoderConfig
from trainables.device import resolve_device, seed_everything
from trainables.errors import ConfigError
from trainables.models import ENCODERS
from trainables.models.encoders import InputShape, build_encoder
from trainables.pretrain.augment import AugmentConfig, BatchAugment
from trainables.pretrain.moco import MoCo

if TYPE_CHECKING:
    from trainables.data.base import ClusteringDataset

EpochCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class PretrainOptions:
    """MoCo-v2 hyper-parameters; ``lr`` is SGD's rate per 256 images, cosine-decayed to zero; ``augment=None``
    uses ``AugmentConfig.for_image_size`` with ``flip`` (None: as the dataset's view policy mirrors)."""

    batch_size: int = 256
    lr: float = 0.06
    weight_decay: float = 5e-4
    momentum: float = 0.99
    temperature: float = 0.2
    queue_size: int = 4096
    out_dim: int = 128
    stem: str = "cifar"
    seed: int = 0
    device: str = "auto"
    flip: bool | None = None
    augment: AugmentConfig | None = None


@dataclass
class PretrainResult:
    """Where the checkpoint went, the mean loss of each epoch and the wall time."""

    checkpoint: Path
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def load_val_images(dataset_config: DatasetConfig) -> tuple[torch.Tensor, InputShape, ClusteringDataset]:
    """All val-view images [N, C, H, W] of the dataset, its input shape and the dataset.

    Raises:
        ConfigError: the dataset holds vectors, not images.
    """
    from trainables.data import build_dataset

    dataset = build_dataset(dataset_config, views=("val",))
    if not dataset.is_image:
        raise ConfigError(f"dataset {dataset.name!r} holds vectors; MoCo pre-training needs an image dataset")
    loader = DataLoader(dataset, batch_size=512, shuffle=False)
    images = torch.cat([views["val"] for views, _, _ in loader])
    return images, InputShape.of(dataset), dataset


def _check(arch: str, epochs: int, options: PretrainOptions) -> None:
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, but got {epochs}")
    if options.batch_size < 8:
        raise ConfigError(f"batch size must be >= 8 for MoCo's shuffled BatchNorm, but got {options.batch_size}")
    if arch not in ENCODERS or arch == "mlp":
        image_archs = ", ".join(name for name in ENCODERS if name != "mlp")
        raise ConfigError(f"encoder arch {arch!r} cannot be pre-trained with MoCo-v2; use one of: {image_archs}")


def save_checkpoint(path: Path, model: MoCo, metadata: dict[str, object]) -> None:
    """Write the backbone as ``backbone.*`` plus metadata, atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {f"backbone.{key}": value.detach().cpu() for key, value in model.backbone.state_dict().items()}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"state_dict": state, **metadata}, temporary)
    os.replace(temporary, path)


def _optimiser(model: MoCo, options: PretrainOptions, batch_size: int, total_steps: int):
    """SGD (momentum 0.9) with the learning rate scaled by batch size / 256 and a per-step cosine decay."""
    optimiser = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad],
        lr=options.lr * batch_size / 256,
        momentum=0.9,
        weight_decay=options.weight_decay,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * step / total_steps))
    )
    return optimiser, schedule


def pretrain(
    dataset_config: DatasetConfig,
    arch: str,
    epochs: int,
    out: str | Path,
    options: PretrainOptions | None = None,
    on_epoch: EpochCallback | None = None,
) -> PretrainResult:
    """Pre-train ``arch`` with MoCo-v2 on ``dataset_config``'s images and save it to ``out``.

    Each epoch visits the images in a fresh random order in full batches (the remainder is dropped).

    Args:
        on_epoch: called after each epoch with (epoch, mean loss).

    Raises:
        ConfigError: bad arch, epochs, batch size or device; DataError: the dataset cannot be loaded.
    """
    options = options or PretrainOptions()
    _check(arch, epochs, options)
    device = resolve_device(options.device)
    images, shape, dataset = load_val_images(dataset_config)
    if len(images) < 8:
        raise ConfigError(f"the dataset has {len(images)} images; MoCo pre-training needs at least 8")
    flip = dataset.view_policy.mirrors(shape.image_size) if options.flip is None else options.flip
    seed_everything(options.seed)
    backbone = build_encoder(EncoderConfig(arch=arch, stem=options.stem), shape)
    model = MoCo(
        backbone,
        queue_size=min(options.queue_size, len(images)),
        out_dim=options.out_dim,
        momentum=options.momentum,
        temperature=options.temperature,
    ).to(device)
    batch_size = min(options.batch_size, len(images))
    steps_per_epoch = len(images) // batch_size
    optimiser, schedule = _optimiser(model, options, batch_size, epochs * steps_per_epoch)
    augment = BatchAugment(
        options.augment or AugmentConfig.for_image_size(shape.image_size, shape.channels, flip),
        low=images.amin(dim=(0, 2, 3)),
        high=images.amax(dim=(0, 2, 3)),
    )
    images = images.to(device)
    generator = torch.Generator().manual_seed(options.seed)
    result = PretrainResult(checkpoint=Path(out))
    start = time.perf_counter()
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(images), generator=generator).to(device)
        total = 0.0
        for step in range(steps_per_epoch):
            batch = images[order[step * batch_size:(step + 1) * batch_size]]
            loss = model(augment(batch, generator), augment(batch, generator))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
        result.losses.append(total / steps_per_epoch)
        if on_epoch is not None:
            on_epoch(epoch, result.losses[-1])
    result.seconds = time.perf_counter() - start
    save_checkpoint(result.checkpoint, model, {
        "arch": arch,
        "stem": options.stem,
        "method": "mocov2",
        "dataset": dataset.name,
        "image_size": shape.image_size,
        "num_channels": shape.channels,
        "epochs": epochs,
        "seed": options.seed,
        "losses": result.losses,
    })
    return result
