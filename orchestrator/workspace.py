"""A sweep's workspace: the workdir, Ray's storage and the MLflow backend (no Ray or MLflow import here)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestrator.mlflow_layout import default_tracking_uri
from trainables.errors import ConfigError


@dataclass(frozen=True)
class Workspace:
    """Where a sweep keeps its state: the workdir, Ray's storage and the MLflow backend."""

    workdir: Path
    storage: str
    tracking_uri: str
    storage_is_shared: bool = False

    @classmethod
    def create(cls, workdir: Path, storage: str | None = None, tracking_uri: str | None = None) -> Workspace:
        """The workspace of ``workdir`` (nothing is created yet).

        Raises:
            ConfigError: ``workdir`` exists but is not a folder.
        """
        workdir = workdir.expanduser().resolve()
        if workdir.exists() and not workdir.is_dir():
            raise ConfigError(f"--workdir {workdir} is a file, not a folder; pass a folder path (it is created if missing)")
        return cls(
            workdir=workdir,
            storage=storage or str(workdir / "ray_results"),
            tracking_uri=tracking_uri or default_tracking_uri(workdir),
            storage_is_shared=storage is not None,
        )

    @property
    def artifact_root(self) -> Path:
        return self.workdir / "mlartifacts"

    def experiment_path(self, sweep_id: str) -> str:
        return f"{self.storage.rstrip('/')}/{sweep_id}"
