"""A stand-in for ``trainables.tune_session.run_under_tune`` for orchestrator tests: a few cheap epochs.

Same contract: restores Ray's checkpoint, calls ``callbacks`` each epoch then reports with a checkpoint, and
calls ``on_trial_end`` with a result. Epoch ``e`` reports ``acc = e / epochs`` so histories are checkable.

Config keys it reads: ``train.epochs``, ``dataset.options.epoch_s`` (seconds per epoch) and, for tests that must
catch a trial mid-run without racing a clock, ``dataset.options.gate`` (a folder) with ``hold_at`` (an epoch) and
``hold_after_finished``. At epoch ``hold_at``, after the epoch is logged and before it is reported, the trial writes
``<gate>/held-<pid>`` and waits until ``<gate>/release`` exists (when ``hold_after_finished``, only once another
trial has written ``<gate>/finished-*``). Every trial that ends writes ``<gate>/finished-<pid>-<epoch>``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from ray import tune

from trainables.config import flatten

HOLD_LIMIT_S = 900  # a held trial gives up waiting after this long (a test that died does not leave it forever)


def fake_body(trial_config: Any, callbacks: tuple = ()) -> SimpleNamespace:
    config = flatten(trial_config)
    epochs = int(config["train.epochs"])
    gate = config.get("dataset.options.gate")
    curve: list[dict[str, float]] = []
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            curve = json.loads((Path(folder) / "state.json").read_text())["curve"]
    for epoch in range(len(curve) + 1, epochs + 1):
        time.sleep(float(config.get("dataset.options.epoch_s", 0.1)))
        row = {"epoch": epoch, "acc": epoch / epochs, "pruned_frac": 0.1, "loss": 1.0 / epoch, "train_time_s": 0.01}
        curve.append(row)
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "state.json").write_text(json.dumps({"curve": curve}))
            for callback in callbacks:
                callback.on_epoch_end(epoch, row, Path(folder))
            if gate and epoch == int(config.get("dataset.options.hold_at", 0)):
                _hold(Path(gate), bool(config.get("dataset.options.hold_after_finished", False)))
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(folder))
    result = SimpleNamespace(
        metrics=curve[-1], curve=curve, predictions=np.arange(6) % 2, probabilities=np.full((6, 2), 0.5),
        stop_epoch=epochs, labels=np.arange(6) % 2, reference={"kmeans_acc": 0.5},
    )
    for callback in callbacks:
        callback.on_trial_end(result)
    if gate:
        (Path(gate) / f"finished-{os.getpid()}-{time.monotonic_ns()}").touch()
    return result


def _hold(gate: Path, after_finished: bool) -> None:
    release = gate / "release"
    if release.exists() or (after_finished and not any(gate.glob("finished-*"))):
        return
    (gate / f"held-{os.getpid()}").touch()
    deadline = time.monotonic() + HOLD_LIMIT_S
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def wait_for(condition, what: str, timeout_s: float = 300.0, poll_s: float = 0.2):
    """Poll ``condition()`` until it returns something truthy (returned); AssertionError naming ``what`` after a
    generous deadline (the deadline only bounds a hang, no test outcome depends on it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
