"""A stand-in for ``trainables.tune_trainable.run_under_tune`` for orchestrator tests: a few cheap epochs.

Same contract: restores Ray's checkpoint, calls ``callbacks`` each epoch then reports with a checkpoint, and
calls ``on_trial_end`` with a result. Epoch ``e`` reports ``acc = e / epochs`` so histories are checkable.
Config keys it reads: ``train.epochs`` and ``dataset.options.epoch_s`` (seconds per epoch).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from ray import tune


def fake_body(config: dict[str, Any], callbacks: tuple = ()) -> SimpleNamespace:
    epochs = int(config["train.epochs"])
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
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(folder))
    result = SimpleNamespace(
        metrics=curve[-1], curve=curve, predictions=np.arange(6) % 2, probabilities=np.full((6, 2), 0.5),
        stop_epoch=epochs, labels=np.arange(6) % 2,
    )
    for callback in callbacks:
        callback.on_trial_end(result)
    return result
