"""Checkpoints: safe round trip, clear errors on corrupt or foreign ones, and bitwise resume on fakes."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from trainables.trial_checkpoints import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from trainables.trial_loop import run_epochs
from trainables.errors import CheckpointError

TIMES = {"train_time_s", "score_time_s", "eval_time_s"}


class KeepCheckpoint:
    """Copies the checkpoint of one epoch away (the loop keeps only the latest)."""

    def __init__(self, epoch: int, target: Path) -> None:
        self.epoch, self.target = epoch, target

    def on_epoch_end(self, epoch, metrics, checkpoint_dir):
        if epoch == self.epoch:
            shutil.copytree(checkpoint_dir, self.target)

    def on_trial_end(self, result):
        """Nothing to do at the end."""


def test_round_trip_keeps_arrays_tensors_and_rng_states(tmp_path):
    state = {"a": np.arange(6, dtype=np.int64).reshape(2, 3), "mask": np.array([True, False]),
             "nested": [{"x": np.float64(1.5)}, (1, "b")], "t": torch.randn(3), "rng": capture_rng_state()}
    expected = [random.random(), np.random.rand(), torch.rand(1).item()]
    save_checkpoint(tmp_path / "c", state)
    loaded = load_checkpoint(tmp_path / "c")
    np.testing.assert_array_equal(loaded["a"], state["a"])
    assert loaded["mask"].dtype == bool and loaded["nested"] == [{"x": 1.5}, (1, "b")]
    assert torch.equal(loaded["t"], state["t"])
    restore_rng_state(loaded["rng"])
    assert [random.random(), np.random.rand(), torch.rand(1).item()] == expected


def test_save_replaces_atomically_and_leaves_no_staging_dirs(tmp_path):
    save_checkpoint(tmp_path / "c", {"v": 1})
    save_checkpoint(tmp_path / "c", {"v": 2})
    assert load_checkpoint(tmp_path / "c") == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["c"]


@pytest.mark.parametrize("content", ["garbage", "foreign", "missing"])
def test_corrupt_foreign_or_missing_checkpoint_raises_one_line(tmp_path, content):
    directory = tmp_path / "ckpt"
    if content != "missing":
        directory.mkdir()
        if content == "garbage":
            (directory / "state.pt").write_bytes(b"\x00not a checkpoint")
        else:
            torch.save({"state_dict": {"w": torch.zeros(1)}}, directory / "state.pt")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(directory)
    assert "\n" not in str(error.value) and str(directory) in str(error.value)


def test_truncated_checkpoint_raises(tmp_path):
    save_checkpoint(tmp_path / "c", {"v": torch.randn(1000)})
    data = (tmp_path / "c" / "state.pt").read_bytes()
    (tmp_path / "c" / "state.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "c")


def _without_times(curve):
    return [{k: v for k, v in row.items() if k not in TIMES} for row in curve]


@pytest.mark.parametrize("resume_after,schedule", [(1, "constant"), (2, "constant"), (2, "cosine")])
def test_resume_is_bitwise_identical_to_an_uninterrupted_run(fakes, tmp_path, resume_after, schedule):
    config = fakes.make_config(epochs=4, eval_every=1, checkpoint_every=1, lr_schedule=schedule)
    kept = tmp_path / "kept"
    full = run_epochs(fakes.make_parts(config), config, [KeepCheckpoint(resume_after, kept)], workdir=tmp_path / "a")

    # A fresh process would rebuild the parts from scratch; disturb the global RNGs to prove they are restored.
    torch.manual_seed(12345), np.random.seed(1), random.seed(2)
    parts = fakes.make_parts(config)
    resumed = run_epochs(parts, config, resume_from=kept, workdir=tmp_path / "b")

    np.testing.assert_equal(_without_times(resumed.curve), _without_times(full.curve))  # exact, NaN == NaN
    assert np.array_equal(resumed.probabilities, full.probabilities)
    assert resumed.stop_epoch == full.stop_epoch == 4


@pytest.mark.parametrize("early_stop", [False, True])
def test_resuming_a_finished_trial_runs_no_epoch(fakes, tmp_path, early_stop):
    config = fakes.make_config(epochs=4 if early_stop else 2)
    kept = tmp_path / "kept"
    stop = (lambda: fakes.StopAt(2)) if early_stop else (lambda: None)
    full = run_epochs(fakes.make_parts(config, early_stop=stop()), config, [KeepCheckpoint(2, kept)])
    parts = fakes.make_parts(config, early_stop=stop())
    again = run_epochs(parts, config, resume_from=kept)
    assert parts.method.trained == []
    np.testing.assert_equal(_without_times(again.curve), _without_times(full.curve))
    assert np.array_equal(again.predictions, full.predictions)
    assert again.stop_epoch == full.stop_epoch == 2


def test_checkpoint_of_another_config_is_refused(fakes, tmp_path):
    config = fakes.make_config(epochs=1)
    kept = tmp_path / "kept"
    run_epochs(fakes.make_parts(config), config, [KeepCheckpoint(1, kept)])
    other = fakes.make_config(epochs=1, lr_head=0.01)
    with pytest.raises(CheckpointError, match="different trial configuration"):
        run_epochs(fakes.make_parts(other), other, resume_from=kept)


def test_raising_epochs_continues_a_finished_trial(fakes, tmp_path):
    short = fakes.make_config(epochs=2)
    kept = tmp_path / "kept"
    run_epochs(fakes.make_parts(short), short, [KeepCheckpoint(2, kept)])
    longer = fakes.make_config(epochs=3)
    result = run_epochs(fakes.make_parts(longer), longer, resume_from=kept)
    assert [row["epoch"] for row in result.curve] == [1, 2, 3]


def test_only_the_final_checkpoint_holds_the_probabilities(fakes, tmp_path):
    config = fakes.make_config(epochs=2)
    result = run_epochs(fakes.make_parts(config), config, [KeepCheckpoint(1, tmp_path / "first")],
                        workdir=tmp_path / "work")
    assert load_checkpoint(tmp_path / "first")["engine"]["probabilities"] is None
    final = load_checkpoint(tmp_path / "work" / "checkpoints" / "epoch_0002")["engine"]["probabilities"]
    assert np.array_equal(final, result.probabilities)


@pytest.mark.slow
def test_loader_workers_keep_runs_and_resume_bitwise(fakes, tmp_path):
    config = fakes.make_config(epochs=2, num_workers=1)
    kept = tmp_path / "kept"
    first = run_epochs(fakes.make_parts(config), config, [KeepCheckpoint(1, kept)])
    second = run_epochs(fakes.make_parts(config), config)
    resumed = run_epochs(fakes.make_parts(config), config, resume_from=kept)
    np.testing.assert_equal(_without_times(second.curve), _without_times(first.curve))
    np.testing.assert_equal(_without_times(resumed.curve), _without_times(first.curve))
