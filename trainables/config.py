"""TrialConfig: the validated, nested configuration of one run, and its flat dotted-key form.

Every value a user can set has its type and range here; ``trainables.validation`` adds the checks that need the
registries (plug-in names, ``method.params``), so this schema imports no registry.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trainables.errors import ConfigError, describe_validation_error

DEFAULT_EPOCHS = 100  # the paper's protocol


class Section(BaseModel):
    """A config section: unknown keys are errors, assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DatasetConfig(Section):
    """Which data to cluster and where it lives on disk."""

    name: str = "digits"
    root: Path | None = None
    image_size: int | None = Field(default=None, gt=0)
    download: bool = False
    options: dict[str, Any] = Field(default_factory=dict)


class EncoderConfig(Section):
    """The backbone, its stem and the pre-trained checkpoint to load."""

    arch: str = "small_cnn"
    checkpoint: Path | None = None
    stem: Literal["cifar", "imagenet"] = "cifar"
    stem_padding: int = Field(default=1, ge=0)


class MethodConfig(Section):
    """The baseline and its own hyper-parameters (validated by the method's ``Params`` model)."""

    name: str = "scan"
    params: dict[str, Any] = Field(default_factory=dict)


class InitConfig(Section):
    """How the clustering head is initialised (method.md, DACHI)."""

    strategy: str = "random"
    alpha: float = 2.0
    k: int = 10
    kmeans_restarts: int = Field(default=5, ge=1)

    @field_validator("alpha")
    @classmethod
    def _alpha_finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @field_validator("k")
    @classmethod
    def _k_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be >= 1")
        return value


class SelectionConfig(Section):
    """Which samples are trained on each epoch (method.md, DSS and alternatives).

    ``epsilon`` and ``priority``: ``dss`` and ``loss``; ``ratio``: ``random``; ``prune_ratio`` (r) and
    ``delta`` (the share of epochs that prune): ``infobatch``.
    """

    strategy: str = "none"
    epsilon: float = 0.1
    ratio: float = 0.1
    priority: bool = False
    prune_ratio: float = 0.5
    delta: float = 0.875

    @field_validator("epsilon")
    @classmethod
    def _epsilon_non_negative(cls, value: float) -> float:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError("must be a finite number >= 0")
        return value

    @field_validator("ratio", "prune_ratio")
    @classmethod
    def _ratio_in_unit_interval(cls, value: float) -> float:
        if not 0 <= value < 1:
            raise ValueError("must lie in [0, 1)")
        return value

    @field_validator("delta")
    @classmethod
    def _delta_in_half_open_unit_interval(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError("must lie in (0, 1]")
        return value


class EarlyStopConfig(Section):
    """Label-free early stopping from the pruning curve; ``patience=None`` disables it."""

    patience: int | None = Field(default=None, ge=1)


class TrainConfig(Section):
    """Optimisation, seeding, device and bookkeeping of one trial.

    ``lr_schedule``: ``constant`` (the references' and the paper's protocol) or ``cosine``, every optimiser's rates
    decayed per epoch by ``lr_factor``, for short protocols whose last epochs must settle.
    """

    epochs: int = Field(default=DEFAULT_EPOCHS, ge=1)
    batch_size: int = Field(default=256, ge=2)
    score_batch_size: int = Field(default=1024, ge=1)
    lr_head: float = Field(default=1e-4, gt=0)
    lr_backbone: float = Field(default=5e-5, ge=0)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    weight_decay: float = Field(default=0.0, ge=0)
    seed: int = 0
    device: str = "auto"
    eval_every: int = Field(default=1, ge=1)
    checkpoint_every: int = Field(default=1, ge=1)
    encoder_mode: Literal["finetune", "frozen"] = "finetune"
    num_workers: int = Field(default=0, ge=0)


class TrialConfig(Section):
    """Everything one trial needs; flattened to dotted keys for Ray and MLflow."""

    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    method: MethodConfig = Field(default_factory=MethodConfig)
    init: InitConfig = Field(default_factory=InitConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    early_stop: EarlyStopConfig = Field(default_factory=EarlyStopConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    cache_dir: Path = Path("~/.cache/dcsweep")


def parse_trial_config(data: dict[str, Any]) -> TrialConfig:
    """Validate a nested (or dotted-key) dict against the schema; raises ConfigError on one line.

    The schema alone: plug-in names and ``method.params`` are checked by ``trainables.validation``.
    """
    nested = unflatten(data) if any("." in key for key in data) else data
    try:
        return TrialConfig.model_validate(nested)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None


def flatten(config: TrialConfig | dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> {"init.alpha": 2.0, ...}; paths become strings."""
    data = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    flat: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, prefix=f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """{"init.alpha": 2.0} -> {"init": {"alpha": 2.0}}; nested dict values are merged."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        *parents, leaf = dotted.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(leaf), dict):
            node[leaf].update(value)
        else:
            node[leaf] = value
    return nested
