"""Each method's own hyper-parameters (``method.params``) and per-dataset defaults, importable without torch.

The planner validates ``method.params`` here before any run; a method reads its resolved params through
``ClusteringMethod.resolve_params``, which calls ``resolve_method_params``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from trainables.errors import ConfigError, describe_validation_error


class MethodParams(BaseModel):
    """Base of each method's own hyper-parameters (``method.params`` in the config)."""

    model_config = ConfigDict(extra="forbid")


class ScanParams(MethodParams):
    """SCAN's hyper-parameters (``method.params``)."""

    num_neighbors: int = Field(default=20, ge=1, description="neighbours mined per sample, besides itself")
    entropy_weight: float = Field(default=5.0, ge=0, description="lambda of the entropy term")
    heads: int = Field(default=1, ge=1, description="heads trained side by side; the lowest-loss one predicts")
    stage: Literal["scan", "selflabel"] = Field(default="scan", description="SCAN's clustering or self-label stage")
    confidence_threshold: float = Field(
        default=0.99, gt=0, lt=1, description="selflabel: weak-view confidence a pseudo-labelled sample exceeds"
    )
    scan_checkpoint: Path | None = Field(
        default=None, description="selflabel: checkpoint directory of the SCAN-stage trial to start from"
    )

    @model_validator(mode="after")
    def _selflabel_settings_fit_the_stage(self) -> ScanParams:
        if self.stage == "selflabel" and self.heads != 1:
            raise ValueError(
                f"method.params.heads must be 1 with method.params.stage='selflabel' (self-labelling trains one "
                f"head), but got heads={self.heads}"
            )
        if self.scan_checkpoint is not None and self.stage != "selflabel":
            raise ValueError(
                "method.params.scan_checkpoint is the start of the self-label stage; set "
                "method.params.stage='selflabel' or remove it"
            )
        if self.scan_checkpoint is not None:
            from trainables.trial_checkpoints import STATE_FILE  # torch: only when a checkpoint is named

            if not (self.scan_checkpoint / STATE_FILE).is_file():
                raise ValueError(
                    f"method.params.scan_checkpoint: no trial checkpoint at {self.scan_checkpoint} (missing "
                    f"{STATE_FILE}); pass the checkpoint directory of a finished SCAN-stage trial"
                )
        return self


class CdcParams(MethodParams):
    """CDC's hyper-parameters (``method.params``); M and K_mini are capped at the batch size at run time."""

    hidden_dim: int = Field(default=512, ge=1, description="width H of both heads' hidden layer")
    top_m: int = Field(default=50, ge=1, description="M: candidates per cluster for selection")
    mini_clusters: int = Field(default=40, ge=1, description="K_mini: K-means clusters per batch")
    sub_batch_size: int = Field(default=500, ge=1, description="rows per sub-batch; both optimisers step after each")
    entropy_weight: float = Field(default=1.0, ge=0, description="w_en of the calibration loss")
    kmeans_iters: int = Field(default=10, ge=1, description="Lloyd iterations of the mini-cluster K-means")
    orth_steps: int = Field(default=2000, ge=0, description="SGD steps of the orthogonalisation")
    orth_scale: float = Field(default=5.0, gt=0, description="logit scale of the orthogonalisation")
    orth_lr: float = Field(default=0.1, gt=0, description="SGD learning rate of the orthogonalisation")


class CCParams(MethodParams):
    """CC's hyper-parameters (``method.params``)."""

    hidden_dim: int = Field(default=512, ge=1)
    instance_dim: int = Field(default=128, ge=1)
    instance_temperature: float = Field(default=0.5, gt=0)
    cluster_temperature: float = Field(default=1.0, gt=0)
    entropy_weight: float = Field(default=1.0, ge=0)


class TCLParams(CCParams):
    """TCL's hyper-parameters (``method.params``): CC's plus the stage and the boost settings."""

    stage: Literal["cluster", "boost"] = "cluster"
    boost_threshold: float = Field(default=0.99, gt=0, le=1)
    boost_fraction: float = Field(default=0.5, gt=0, le=1)


def _per_dataset(top_m: int, mini_clusters: int, sub_batch_size: int) -> dict[str, Any]:
    return {"top_m": top_m, "mini_clusters": mini_clusters, "sub_batch_size": sub_batch_size}


METHOD_PARAMS: dict[str, type[MethodParams]] = {"scan": ScanParams, "cdc": CdcParams, "cc": CCParams, "tcl": TCLParams}
"""Method name -> its params model; a method missing here takes none."""

DATASET_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "cdc": {  # CDC's per-dataset M, K_mini and sub-batch (baselines.md)
        "cifar10": _per_dataset(100, 500, 500),
        "cifar20": _per_dataset(50, 40, 500),
        "stl10": _per_dataset(100, 150, 500),
        "imagenet10": _per_dataset(50, 150, 125),
        "imagenet_dogs": _per_dataset(33, 40, 125),
        "tiny_imagenet": _per_dataset(25, 1000, 1000),
        # Small data (not in the paper), sized for batches of 256.
        "digits": _per_dataset(20, 20, 256),
        "coil20": _per_dataset(10, 20, 256),
    },
}
"""Method name -> {dataset name: params overrides}; methods whose params do not change with the dataset are absent."""


def resolve_method_params(method: str, dataset: str, params: dict[str, Any]) -> MethodParams:
    """Method defaults, overridden by the dataset's defaults, overridden by ``params`` (``method.params``).

    Raises:
        ConfigError: a parameter is unknown or invalid (one line naming it).
    """
    merged = {**DATASET_DEFAULTS.get(method, {}).get(dataset, {}), **params}
    try:
        return METHOD_PARAMS.get(method, MethodParams).model_validate(merged)
    except ValidationError as error:
        detail = describe_validation_error(error, prefix="method.params.")
        raise ConfigError(f"method {method!r}: {detail}") from None
