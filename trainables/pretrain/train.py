"""``pretrain``: MoCo-v2 pre-training of an encoder on a dataset, saved in a loadable checkpoint.

Images are viewed through the MoCo-v2 augmentations (``augment.py``); feature vectors through SCARF's random
feature corruption (``corruption.py``), which is the pre-training protocol for tabular data: an ``mlp`` trained
with the same MoCo-v2 objective (queue, momentum encoder, InfoNCE at temperature 0.2) on two corrupted views of
each standardised row. ``PRETEXTS`` holds what differs between the two kinds of data.

The checkpoint is ``{"state_dict": {"backbone.<key>": tensor}, "arch": ..., ...}``, which
``load_encoder_checkpoint`` reads as the backbone format. Meant for small datasets (digits, COIL-20, tabular
sets of a few thousand rows): the val views are held in memory and augmented in batches on the training device.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader

from trainables.config import DatasetConfig, EncoderConfig
from trainables.device import resolve_device
from trainables.errors import ConfigError
from trainables.models import ENCODERS
from trainables.models.encoders import InputShape, build_encoder
from trainables.pretrain.augment import AugmentConfig, BatchAugment
from trainables.pretrain.corruption import CorruptionConfig, FeatureCorruption
from trainables.pretrain.moco import MoCo
from trainables.seeding import seed_everything

if TYPE_CHECKING:
    from trainables.data.base import ClusteringDataset

MIN_SAMPLES = 8
ViewMaker = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class PretrainOptions:
    """MoCo-v2 hyper-parameters; ``lr`` is SGD's rate per 256 samples, cosine-decayed to zero.

    Images: ``augment=None`` uses ``AugmentConfig.for_image_size`` with ``flip`` (None: as the dataset's view
    policy mirrors). Vectors: ``corruption`` sets the fraction of features each view replaces.
    """

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
    corruption: CorruptionConfig = field(default_factory=CorruptionConfig)


class PretrainListener:
    """Hooks the training loop calls as it goes; these defaults do nothing."""

    def started(self, epochs: int, steps_per_epoch: int) -> None:
        """Before the first step."""

    def stepped(self, epoch: int, loss: float) -> None:
        """After each optimiser step, with the mean loss of the epoch so far."""

    def epoch_ended(self, epoch: int, mean_loss: float) -> None:
        """After each epoch (1-based), with its mean loss."""


@dataclass
class PretrainResult:
    """Where the checkpoint went, the mean loss of each epoch and the wall time."""

    checkpoint: Path
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class Pretext:
    """What pre-training needs to know about one kind of data.

    Attributes:
        method: the name stored in the checkpoint.
        views: (all val-view samples [N, ...], options) -> a callable making one random view of a batch.
        shape_metadata: the input shape facts stored in the checkpoint.
    """

    method: str
    views: Callable[[torch.Tensor, InputShape, PretrainOptions], ViewMaker]
    shape_metadata: Callable[[InputShape], dict[str, object]]


def image_views(images: torch.Tensor, shape: InputShape, options: PretrainOptions) -> ViewMaker:
    """MoCo-v2 augmentations scaled to the image size, on pixels recovered with the dataset's per-channel range."""
    config = options.augment or AugmentConfig.for_image_size(shape.image_size, shape.channels, options.flip)
    return BatchAugment(config, low=images.amin(dim=(0, 2, 3)), high=images.amax(dim=(0, 2, 3)))


def vector_views(vectors: torch.Tensor, shape: InputShape, options: PretrainOptions) -> ViewMaker:
    """SCARF corruption drawing replacement values from the dataset's own rows."""
    return FeatureCorruption(options.corruption, pool=vectors)


PRETEXTS: dict[bool, Pretext] = {  # keyed by InputShape.is_image
    True: Pretext("mocov2", image_views, lambda shape: {"image_size": shape.image_size,
                                                        "num_channels": shape.channels}),
    False: Pretext("mocov2-scarf", vector_views, lambda shape: {"input_dim": shape.input_dim}),
}


def load_val_samples(dataset_config: DatasetConfig) -> tuple[torch.Tensor, InputShape, ClusteringDataset]:
    """All val-view samples of the dataset ([N, C, H, W] images or [N, D] vectors), its input shape and the dataset."""
    from trainables.data import build_dataset

    dataset = build_dataset(dataset_config, views=("val",))
    loader = DataLoader(dataset, batch_size=512, shuffle=False)
    samples = torch.cat([views["val"] for views, _, _ in loader])
    return samples, InputShape.of(dataset), dataset


def _check(arch: str, epochs: int, options: PretrainOptions) -> None:
    if epochs < 1:
        raise ConfigError(f"epochs must be >= 1, but got {epochs}")
    if options.batch_size < MIN_SAMPLES:
        raise ConfigError(
            f"batch size must be >= {MIN_SAMPLES} for MoCo's shuffled BatchNorm, but got {options.batch_size}"
        )
    if arch not in ENCODERS:
        raise ConfigError(f"unknown encoder arch {arch!r}; choose one of: {', '.join(ENCODERS.names())}")


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
    listener: PretrainListener | None = None,
) -> PretrainResult:
    """Pre-train ``arch`` with MoCo-v2 on ``dataset_config``'s samples and save it to ``out``.

    Each epoch visits the samples in a fresh random order in full batches (the remainder is dropped).

    Raises:
        ConfigError: bad arch (or an image arch on vectors), epochs, batch size or device;
        DataError: the dataset cannot be loaded.
    """
    options = options or PretrainOptions()
    listener = listener or PretrainListener()
    _check(arch, epochs, options)
    device = resolve_device(options.device)
    samples, shape, dataset = load_val_samples(dataset_config)
    if shape.is_image and options.flip is None:
        options = replace(options, flip=dataset.view_policy.mirrors(shape.image_size))
    if len(samples) < MIN_SAMPLES:
        raise ConfigError(f"the dataset has {len(samples)} samples; MoCo pre-training needs at least {MIN_SAMPLES}")
    pretext = PRETEXTS[shape.is_image]
    seed_everything(options.seed)
    backbone = build_encoder(EncoderConfig(arch=arch, stem=options.stem), shape)
    model = MoCo(
        backbone,
        queue_size=min(options.queue_size, len(samples)),
        out_dim=options.out_dim,
        momentum=options.momentum,
        temperature=options.temperature,
    ).to(device)
    batch_size = min(options.batch_size, len(samples))
    steps_per_epoch = len(samples) // batch_size
    optimiser, schedule = _optimiser(model, options, batch_size, epochs * steps_per_epoch)
    make_view = pretext.views(samples, shape, options)
    samples = samples.to(device)
    generator = torch.Generator().manual_seed(options.seed)
    result = PretrainResult(checkpoint=Path(out))
    start = time.perf_counter()
    model.train()
    listener.started(epochs, steps_per_epoch)
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(samples), generator=generator).to(device)
        total = 0.0
        for step in range(steps_per_epoch):
            batch = samples[order[step * batch_size:(step + 1) * batch_size]]
            loss = model(make_view(batch, generator), make_view(batch, generator))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
            listener.stepped(epoch, total / (step + 1))
        result.losses.append(total / steps_per_epoch)
        listener.epoch_ended(epoch, result.losses[-1])
    result.seconds = time.perf_counter() - start
    save_checkpoint(result.checkpoint, model, {
        "arch": arch,
        "stem": options.stem,
        "method": pretext.method,
        "dataset": dataset.name,
        **pretext.shape_metadata(shape),
        "epochs": epochs,
        "seed": options.seed,
        "losses": result.losses,
    })
    return result
