"""The trial loop: run a trial's epochs on the epoch engine, checkpoint them (keeping the latest), resume from a
checkpoint, and hand each epoch and the result to callbacks."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from trainables.trial_checkpoints import (
    capture_rng_state,
    check_fingerprint,
    config_fingerprint,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from trainables.config import TrialConfig
from trainables.engine import EpochEngine, TrialParts
from trainables.errors import CheckpointError


@dataclass
class TrialResult:
    """Final metrics (the last row), the per-epoch curve, [N] predictions, [N, K] probabilities, stop epoch,
    and the [N] ground-truth labels the predictions were scored against."""

    metrics: dict[str, float]
    curve: list[dict[str, float]]
    predictions: np.ndarray
    probabilities: np.ndarray
    stop_epoch: int
    labels: np.ndarray
    reference: dict[str, float] = field(default_factory=dict)


class TrialCallback(Protocol):
    """Hooks called by the epoch loop; ``checkpoint_dir`` is only valid during the call (copy it to keep it)."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], checkpoint_dir: Path | None) -> None: ...

    def on_trial_end(self, result: TrialResult) -> None: ...


def run_epochs(
    parts: TrialParts,
    config: TrialConfig,
    callbacks: Sequence[TrialCallback] = (),
    resume_from: Path | ResumeState | None = None,
    workdir: Path | None = None,
) -> TrialResult:
    """Run epochs 1..train.epochs over ``parts`` (or continue after the checkpoint ``resume_from``: its folder, or
    its state already read by ``load_resume_state``).

    Stops early when ``parts.early_stop`` fires; a resumed early-stopped trial runs no further epoch, a resumed
    trial whose ``train.epochs`` was raised continues to the new last epoch. Checkpoints go to ``workdir/checkpoints/epoch_NNNN`` (a
    temporary folder when ``workdir`` is None) every ``train.checkpoint_every`` epochs and at the end; only the
    latest is kept, so a callback that wants one must copy it during ``on_epoch_end``.

    Raises:
        CheckpointError: ``resume_from`` is unreadable or was written for a different config.
        TrainingError: the loss diverged.
    """
    engine = EpochEngine(parts, config.train, config.method.name)
    curve: list[dict[str, float]] = []
    first_epoch, stopped = 1, False
    if resume_from is not None:
        resume = resume_from if isinstance(resume_from, ResumeState) else load_resume_state(resume_from, config)
        state = resume.state
        _load_engine_state(engine, state["engine"], resume.path)
        restore_rng_state(state["rng"])
        curve, first_epoch, stopped = list(state["curve"]), state["epoch"] + 1, state["stopped"]

    epochs = config.train.epochs
    with _working_directory(workdir) as root:
        previous: Path | None = None
        for epoch in range(first_epoch, epochs + 1) if not stopped else ():
            outcome = engine.run_epoch(epoch, is_last=epoch == epochs)
            curve.append(outcome.row)
            stopped = outcome.stop
            checkpoint = None
            final = stopped or epoch == epochs
            if epoch % config.train.checkpoint_every == 0 or final:
                state = {
                    "fingerprint": config_fingerprint(config),
                    "epoch": epoch,
                    "stopped": stopped,
                    "curve": curve,
                    "engine": engine.state_dict(with_probabilities=final),
                    "rng": capture_rng_state(),
                }
                checkpoint = save_checkpoint(root / "checkpoints" / f"epoch_{epoch:04d}", state)
            for callback in callbacks:
                callback.on_epoch_end(epoch, dict(outcome.row), checkpoint)
            if checkpoint is not None:
                if previous is not None:
                    shutil.rmtree(previous, ignore_errors=True)
                previous = checkpoint
            if stopped:
                break

    result = _result(engine, curve)
    for callback in callbacks:
        callback.on_trial_end(result)
    return result


@dataclass(frozen=True)
class ResumeState:
    """A checkpoint read once to resume from: its folder (named in errors) and its state."""

    path: Path
    state: dict[str, Any]


def load_resume_state(path: Path, config: TrialConfig) -> ResumeState:
    """The state of the checkpoint at ``path``, checked to belong to ``config``.

    Raises:
        CheckpointError: unreadable, foreign, or written for a different config.
    """
    state = load_checkpoint(path)
    check_fingerprint(state, config, path)
    return ResumeState(Path(path), state)


def _load_engine_state(engine: EpochEngine, state: dict[str, Any], path: Path) -> None:
    try:
        engine.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint {path} does not fit this trial ({type(error).__name__}); "
            "resume with the config that wrote it or start the trial without resume_from"
        ) from None


def _result(engine: EpochEngine, curve: list[dict[str, float]]) -> TrialResult:
    """The trial's result from the last evaluation; the stop epoch is early stopping's or the last epoch."""
    probabilities = engine.probabilities
    if probabilities is None:
        probabilities = np.empty((0, engine.parts.method.num_clusters), dtype=np.float32)
    early_stop = engine.parts.early_stop
    stopped_at = early_stop.stop_epoch if early_stop is not None else None
    return TrialResult(
        metrics=dict(curve[-1]) if curve else {},
        curve=curve,
        predictions=probabilities.argmax(axis=1),
        probabilities=probabilities,
        stop_epoch=int(stopped_at if stopped_at is not None else (curve[-1]["epoch"] if curve else 0)),
        labels=engine.parts.targets,
        reference=dict(engine.parts.reference),
    )


@contextmanager
def _working_directory(workdir: Path | None) -> Iterator[Path]:
    """``workdir`` itself, or a temporary folder removed afterwards."""
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        yield Path(workdir)
        return
    with tempfile.TemporaryDirectory(prefix="dcsweep-trial-") as temporary:
        yield Path(temporary)
