"""``dcsweep pretrain``: MoCo-v2 pre-training of an encoder, written as a checkpoint trials can load.

Images are pre-trained with MoCo-v2's augmentations, feature vectors (``arrays`` with 2-D data, ``--arch mlp``)
with SCARF's random feature corruption. ``--option KEY=VALUE`` (repeatable) sets ``dataset.options``; each value
is read as YAML, so ``label_column=0`` is an index and ``label_column=class`` a header name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from orchestrator.cli_app import app
from orchestrator.options import DEFAULT_WORKDIR, WorkdirOption

EPOCH_LINES = 10  # epochs echoed as lines besides the live bar


def parse_dataset_options(pairs: list[str]) -> dict[str, Any]:
    """``["label_column=0", "file=x.csv"]`` -> ``{"label_column": 0, "file": "x.csv"}`` (values read as YAML).

    Raises:
        ConfigError: a pair without ``=`` or with an empty key.
    """
    import yaml

    from trainables.errors import ConfigError

    options: dict[str, Any] = {}
    for pair in pairs:
        key, separator, value = pair.partition("=")
        if not separator or not key.strip():
            raise ConfigError(f"--option {pair!r} must be KEY=VALUE, e.g. --option label_column=class")
        options[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return options


class ProgressBar:
    """A rich progress bar over all optimiser steps, echoing about ``EPOCH_LINES`` epoch lines as it goes."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress
        self.task = None
        self.epochs = 0

    def started(self, epochs: int, steps_per_epoch: int) -> None:
        self.epochs = epochs
        self.task = self.progress.add_task(f"epoch 1/{epochs}", total=epochs * steps_per_epoch)

    def stepped(self, epoch: int, loss: float) -> None:
        self.progress.update(self.task, advance=1, description=f"epoch {epoch}/{self.epochs} loss {loss:.4f}")

    def epoch_ended(self, epoch: int, mean_loss: float) -> None:
        if epoch == self.epochs or epoch % max(1, self.epochs // EPOCH_LINES) == 0:
            self.progress.console.print(f"epoch {epoch}/{self.epochs} loss {mean_loss:.4f}")


@app.command("pretrain")
def pretrain_command(
    dataset: str = typer.Option("digits", help="Registered dataset name, e.g. digits, coil20 or arrays."),
    arch: str = typer.Option("small_cnn", help="Encoder to pre-train: small_cnn or resnet18 for images, mlp for vectors."),
    epochs: int = typer.Option(100, help="Number of epochs (full passes in batches of --batch-size)."),
    out: Path | None = typer.Option(
        None, help="Checkpoint file to write; default <workdir>/encoders/<dataset>_<arch>.ckpt, where shipped specs look."
    ),
    root: Path | None = typer.Option(None, help="Dataset folder or file (default: $DCSWEEP_DATA/<dataset>)."),
    option: list[str] = typer.Option(
        [], "--option", "-o", metavar="KEY=VALUE",
        help="A dataset.options entry, repeatable, e.g. -o label_column=class -o delimiter=';'.",
    ),
    image_size: int | None = typer.Option(None, help="Resize images to this side, e.g. 32 for COIL-20."),
    seed: int = typer.Option(0, help="Random seed."),
    batch_size: int = typer.Option(256, help="Samples per step."),
    lr: float = typer.Option(0.06, help="SGD learning rate per 256 samples, cosine-decayed."),
    corruption_rate: float = typer.Option(0.6, help="Vectors: fraction of features each view replaces (SCARF)."),
    device: str = typer.Option("auto", help="'auto', 'cpu', 'cuda' or 'cuda:N'."),
    flip: bool | None = typer.Option(
        None, "--flip/--no-flip", help="Images: mirror them (default: as the dataset's view policy mirrors)."
    ),
    workdir: WorkdirOption = DEFAULT_WORKDIR,
) -> None:
    """Pre-train ARCH on DATASET with MoCo-v2 (SCARF corruption for vectors) and save the backbone to OUT."""
    from pydantic import ValidationError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from trainables.config import DatasetConfig
    from trainables.errors import ConfigError, describe_validation_error
    from trainables.pretrain.corruption import CorruptionConfig
    from trainables.pretrain.train import PretrainOptions, pretrain

    try:
        dataset_config = DatasetConfig(
            name=dataset, root=root, image_size=image_size, options=parse_dataset_options(option)
        )
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
    out = out or default_checkpoint(workdir, dataset, arch)
    options = PretrainOptions(
        batch_size=batch_size, lr=lr, seed=seed, device=device, flip=flip,
        corruption=CorruptionConfig(rate=corruption_rate),
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        result = pretrain(dataset_config, arch, epochs, out, options, ProgressBar(progress))
    typer.echo(f"wrote {result.checkpoint} ({arch} on {dataset}, {epochs} epochs, final loss "
               f"{result.losses[-1]:.4f}, {result.seconds:.0f} s)")


def default_checkpoint(workdir: Path, dataset: str, arch: str) -> Path:
    """``<workdir>/encoders/<dataset>_<arch>.ckpt``: the path the shipped specs give ``encoder.checkpoint``."""
    return workdir / "encoders" / f"{dataset}_{arch}.ckpt"
