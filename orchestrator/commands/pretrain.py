"""``dcsweep pretrain``: MoCo-v2 pre-training of an encoder, written as a checkpoint trials can load."""

from __future__ import annotations

from pathlib import Path

import typer

from orchestrator.cli_app import app
from orchestrator.options import DEFAULT_WORKDIR, WorkdirOption


@app.command("pretrain")
def pretrain_command(
    dataset: str = typer.Option("digits", help="Registered dataset name, e.g. digits or coil20."),
    arch: str = typer.Option("small_cnn", help="Encoder to pre-train, e.g. small_cnn or resnet18."),
    epochs: int = typer.Option(100, help="Number of MoCo-v2 epochs."),
    out: Path | None = typer.Option(
        None, help="Checkpoint file to write; default <workdir>/encoders/<dataset>_<arch>.ckpt, where shipped specs look."
    ),
    root: Path | None = typer.Option(None, help="Dataset folder (default: $DCSWEEP_DATA/<dataset>)."),
    image_size: int | None = typer.Option(None, help="Resize images to this side, e.g. 32 for COIL-20."),
    seed: int = typer.Option(0, help="Random seed."),
    batch_size: int = typer.Option(256, help="Images per step."),
    device: str = typer.Option("auto", help="'auto', 'cpu', 'cuda' or 'cuda:N'."),
    flip: bool | None = typer.Option(None, "--flip/--no-flip", help="Mirror images (default: only >= 32 px)."),
    workdir: WorkdirOption = DEFAULT_WORKDIR,
) -> None:
    """Pre-train ARCH on DATASET's images with MoCo-v2 and save the backbone to OUT."""
    from pydantic import ValidationError

    from trainables.config import DatasetConfig, describe_validation_error
    from trainables.errors import ConfigError
    from trainables.pretrain.train import PretrainOptions, pretrain

    try:
        dataset_config = DatasetConfig(name=dataset, root=root, image_size=image_size)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
    out = out or default_checkpoint(workdir, dataset, arch)
    options = PretrainOptions(batch_size=batch_size, seed=seed, device=device, flip=flip)
    result = pretrain(
        dataset_config, arch, epochs, out, options,
        on_epoch=lambda epoch, loss: typer.echo(f"epoch {epoch}/{epochs} loss {loss:.4f}"),
    )
    typer.echo(f"wrote {result.checkpoint} ({arch} on {dataset}, {epochs} epochs, {result.seconds:.0f} s)")


def default_checkpoint(workdir: Path, dataset: str, arch: str) -> Path:
    """``<workdir>/encoders/<dataset>_<arch>.ckpt``: the path the shipped specs give ``encoder.checkpoint``."""
    return workdir / "encoders" / f"{dataset}_{arch}.ckpt"
