"""New sqlite MLflow stores as copies of one empty, already migrated database, kept per MLflow version.

MLflow migrates a new sqlite database through its whole alembic history, which takes seconds on every new workdir;
copying a database migrated once before takes milliseconds and gives the same schema. The copy's ``Default``
experiment is then pointed where MLflow would have put it, ``./mlruns/0`` of the current folder, instead of the
folder the template happened to be migrated in.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from mlflow import __version__ as mlflow_version
from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
from mlflow.tracking import MlflowClient
from mlflow.tracking.default_experiment import DEFAULT_EXPERIMENT_ID


def create_migrated_store(database: Path) -> None:
    """Create the missing sqlite file ``database`` as a copy of the migrated template (made first if absent).

    Falls back to migrating ``database`` itself when the template's folder cannot be written.
    """
    template = _template_path()
    try:
        if not template.is_file():
            _migrate_template(template)
        shutil.copyfile(template, database)
        _point_default_experiment_here(database)
    except OSError:
        database.unlink(missing_ok=True)
        MlflowClient(f"sqlite:///{database}").search_experiments(max_results=1)


def _point_default_experiment_here(database: Path) -> None:
    """Set the ``Default`` experiment's artifact location as MLflow sets it in a store it creates: ``./mlruns/0``,
    resolved against the current folder."""
    location = str(Path.cwd() / DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH / DEFAULT_EXPERIMENT_ID)
    with closing(sqlite3.connect(database)) as connection, connection:
        connection.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (location, int(DEFAULT_EXPERIMENT_ID))
        )


def _template_path() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "dcsweep" / f"mlflow-{mlflow_version}-empty.db"


def _migrate_template(template: Path) -> None:
    """Migrate a fresh database next to ``template`` and move it into place in one step (safe with other writers)."""
    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=template.parent) as scratch:
        fresh = Path(scratch) / template.name
        MlflowClient(f"sqlite:///{fresh}").search_experiments(max_results=1)
        os.replace(fresh, template)
