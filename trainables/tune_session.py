"""The Ray Tune function trainable: every Ray call of dcsweep's trial side lives in this one adapter.

Ray's reporting API has changed more than once; this module is written against ray 2.60:
``ray.tune.get_checkpoint()``, ``ray.tune.report(metrics, checkpoint=...)``, ``ray.tune.Checkpoint`` and
``ray.get_runtime_context()``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune

from trainables.config import TrialConfig
from trainables.trial import run_trial
from trainables.trial_loop import TrialCallback, TrialResult


class TuneReporter:
    """A TrialCallback that reports each epoch's row to Ray Tune, with the checkpoint on checkpoint epochs."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], checkpoint_dir: Path | None) -> None:
        checkpoint = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir is not None else None
        tune.report(metrics, checkpoint=checkpoint)

    def on_trial_end(self, result: TrialResult) -> None:
        """Nothing to do: Ray marks the trial finished when the function returns."""


def run_under_tune(config: TrialConfig | dict[str, Any], callbacks: Sequence[TrialCallback] = ()) -> TrialResult:
    """Body of the trainable: restore Ray's checkpoint if any, run the trial, report each epoch.

    ``config`` is the resolved TrialConfig (from the orchestrator) or a flat dotted-key dict, validated by ``run_trial``.

    ``callbacks`` run before the reporter each epoch, so they see an epoch before Ray may stop the trial.

    Raises:
        ConfigError, CheckpointError, TrainingError: as ``trainables.run_trial``.
    """
    with tempfile.TemporaryDirectory(prefix="dcsweep-tune-") as scratch:
        resume_from = _restore(Path(scratch) / "restored")
        return run_trial(
            config,
            callbacks=(*callbacks, TuneReporter()),
            resume_from=resume_from,
            workdir=Path(scratch) / "work",
        )


def tune_trainable(config: dict[str, Any]) -> None:
    """The function passed to ``ray.tune.Tuner``; it returns nothing because results are reported per epoch."""
    run_under_tune(config)


def report_metrics(metrics: dict[str, float]) -> None:
    """Report one row to Ray Tune without a checkpoint (a trial already finished reports its final row once)."""
    tune.report(metrics)


def current_node_id() -> str:
    """The id (hex) of the Ray node this trial runs on."""
    return ray.get_runtime_context().get_node_id()


def _restore(target: Path) -> Path | None:
    """Copy Ray's checkpoint of this trial (if it is being restored) to ``target``; returns it or None."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    return Path(checkpoint.to_directory(str(target)))
