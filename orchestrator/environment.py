"""Checks of a planned sweep against the machine it will run on: paths that must exist and GPUs that must fit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestrator.plan import PlannedTrial
from orchestrator.spec import Resources
from trainables.errors import ConfigError

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
