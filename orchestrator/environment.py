"""Checks of a planned sweep against the machine it will run on: paths that must exist, GPUs and devices that must
be there, and datasets that must open."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestrator.plan import PlannedTrial
from orchestrator.sweep_spec import Resources
from trainables.errors import ConfigError, DcsweepError

PATH_KEYS = ("encoder.checkpoint", "dataset.root")


def check_paths(trials: Sequence[PlannedTrial]) -> None:
    """Raise ConfigError naming the first trial whose encoder checkpoint or dataset root does not exist."""
    for trial in trials:
        for key in PATH_KEYS:
            value = trial.config.get(key)
            if value is not None and not Path(value).expanduser().exists():
                raise ConfigError(
                    f"trial {trial.name}: {key} {value} does not exist; create it (e.g. `dcsweep pretrain` for a "
                    f"checkpoint) or point {key} at an existing path"
                )


def check_local_gpus(resources: Resources, available: int | None = None) -> None:
    """Raise ConfigError when one trial asks for more GPUs than this single node has.

    ``available`` defaults to ``torch.cuda.device_count()``.
    """
    if available is None:
        import torch

        available = torch.cuda.device_count()
    if resources.gpu > available:
        raise ConfigError(
            f"resources.gpu is {resources.gpu} but this machine has {available} GPU(s); lower resources.gpu "
            f"(fractions such as 0.25 share one GPU) or connect to a cluster with --address"
        )


def check_devices(trials: Sequence[PlannedTrial]) -> None:
    """Raise ConfigError naming the first trial whose ``train.device`` this machine lacks (e.g. cuda, no GPU)."""
    from trainables.device import resolve_device

    checked: set[str] = set()
    for trial in trials:
        device = trial.trial_config.train.device
        if device not in checked:
            try:
                resolve_device(device)
            except ConfigError as error:
                raise ConfigError(f"trial {trial.name}: {error}") from None
            checked.add(device)


def check_datasets(trials: Sequence[PlannedTrial]) -> None:
    """Open each distinct dataset of the trials once, as a trial would (files, keys, shapes, labels).

    Raises:
        ConfigError, DataError: naming the first trial whose dataset cannot be read.
    """
    from trainables.data import build_dataset

    opened: set[str] = set()
    for trial in trials:
        dataset = trial.trial_config.dataset
        identity = dataset.model_dump_json()
        if identity not in opened:
            try:
                build_dataset(dataset)
            except DcsweepError as error:
                raise type(error)(f"trial {trial.name}: {error}") from None
            opened.add(identity)
