"""Where dcsweep's runs live in MLflow: the default tracking URI, experiment names and tag names.

``orchestrator.tracking`` writes this layout and ``reports`` reads it; plain constants, importable without MLflow.
"""

from __future__ import annotations

from pathlib import Path

DATABASE_FILE = "mlflow.db"  # the embedded backend, in the workdir
SQLITE_PREFIX = "sqlite:///"
EXPERIMENT_PREFIX = "dcsweep/"
TAG_PREFIX = "dcsweep."
ROLE = TAG_PREFIX + "role"  # "sweep" (the parent run) or "trial"
SWEEP_ID = TAG_PREFIX + "sweep_id"
SPEC_HASH = TAG_PREFIX + "spec_hash"
CODE_VERSION = TAG_PREFIX + "code_version"
TRIAL_NAME = TAG_PREFIX + "trial_name"
TRIAL_KEY = TAG_PREFIX + "trial_key"
ARM = TAG_PREFIX + "arm"
SEED = TAG_PREFIX + "seed"
ERROR = TAG_PREFIX + "error"
NODE_ID = TAG_PREFIX + "node_id"
LAST_EPOCH = TAG_PREFIX + "last_epoch"  # the highest epoch a trial's run has logged
PARENT = "mlflow.parentRunId"
PREDICTIONS_FILE = "predictions.npz"  # a finished trial's artifact: its final ``pred``, ``prob_max`` and ``labels``


def default_tracking_uri(workdir: Path) -> str:
    """The embedded backend of a workdir: ``sqlite:///<workdir>/mlflow.db`` (absolute)."""
    return f"{SQLITE_PREFIX}{(Path(workdir).expanduser().resolve() / DATABASE_FILE).as_posix()}"


def experiment_name(sweep_id: str) -> str:
    """``dcsweep/<sweep name>``."""
    return f"{EXPERIMENT_PREFIX}{sweep_id}"
