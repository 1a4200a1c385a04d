"""The sweep's live view fed synthetic Ray trials: plain lines off a terminal, ETA, Ray's chatter sent to a file."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from orchestrator.live_view import SweepBoard, SweepHeader, format_seconds
from orchestrator.progress import SweepProgress, chatter_to_file, held_start_up_logs


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _trial(trial_id: str, name: str, epochs: int) -> SimpleNamespace:
    config = {"trial": {"name": name, "arm": "ours", "seed": 0, "key": f"{trial_id}-s0", "config": {"train.epochs": epochs}}}
    return SimpleNamespace(trial_id=trial_id, config=config)


def _header(tmp_path: Path) -> SweepHeader:
    return SweepHeader("quick", 4, 1, 3, "sqlite:///x/mlflow.db", tmp_path)


def test_off_a_terminal_each_finished_trial_prints_one_plain_line(tmp_path: Path) -> None:
    out = io.StringIO()
    progress = SweepProgress(tmp_path / "logs" / "quick.log", console=Console(file=out, width=200))
    trials = [_trial("a", "cdc/ours/digits/seed0", 8), _trial("b", "cdc/baseline/digits/seed0", 8)]
    with progress:
        logging.getLogger("mlflow.store.db.utils").warning("Creating initial MLflow database tables...")
        progress.show(_header(tmp_path))
        for trial in trials:
            progress.on_trial_start(0, trials, trial)
        progress.on_trial_result(0, trials, trials[0], {"epoch": 8, "acc": 0.91234, "pruned_frac": 0.125})
        progress.on_trial_result(0, trials, trials[1], {"epoch": 3, "acc": 0.5})
        print("Checkpoint successfully created at: Checkpoint(...)")  # Ray's chatter goes to the log file
        progress.on_trial_complete(0, trials, trials[0])
        progress.on_trial_error(0, trials, trials[1])
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("preparing the sweep") and lines[0].endswith(str(tmp_path / "logs" / "quick.log"))
    assert lines[1] == "sweep quick: 4 trials planned, 1 skipped as finished, 3 to run"
    assert len(lines) == 4 + 2 + 3  # preparing + header, one line per finished trial, summary + two commands
    finished = [line for line in lines if line.startswith("[")]
    assert finished[0].startswith(f"[1/3] cdc/ours/digits/seed0 done: epoch 8/8, ACC {100 * 0.91234:.1f}%, pruned 12.5%")
    assert finished[1].startswith("[2/3] cdc/baseline/digits/seed0 FAILED: epoch 3/8, ACC 50.0%, pruned -")
    assert "2 of 3 trials ended (1 failed)" in lines[-3] and lines[-2].strip().startswith("dcsweep report quick")
    assert "Checkpoint" not in out.getvalue() and "MLflow database" not in out.getvalue()
    log = (tmp_path / "logs" / "quick.log").read_text()
    assert "Checkpoint successfully created" in log and "Creating initial MLflow database tables" in log


def test_eta_is_elapsed_time_scaled_by_the_epoch_weighted_work_left(tmp_path: Path) -> None:
    clock = Clock()
    board = SweepBoard(_header(tmp_path), clock=clock)
    assert board.eta_s() is None
    board.start("a", "t/a", 10)
    board.start("b", "t/b", 10)
    board.result("a", {"epoch": 5})
    clock.now += 60  # 0.5 of 3 trials done in 60 s
    assert board.eta_s() == pytest.approx(60 * (3 - 0.5) / 0.5)
    board.finish("a", failed=False)
    assert board.bar_line() == f"1/3 done, 1 running, 0 failed, ETA {format_seconds(60 * 2 / 1)}"


def test_chatter_to_file_takes_ray_loggers_off_the_terminal_and_gives_them_back(tmp_path: Path) -> None:
    import sys

    logger = logging.getLogger("ray.tune.test_live_view")
    terminal = logging.StreamHandler(sys.stderr)
    logger.addHandler(terminal)
    try:
        with chatter_to_file(tmp_path / "ray.log"):
            logger.warning("Result logdir: /tmp/ray/session")
        assert terminal in logger.handlers and len(logger.handlers) == 1
    finally:
        logger.removeHandler(terminal)
    assert "Result logdir: /tmp/ray/session" in (tmp_path / "ray.log").read_text()


def test_what_ray_logs_while_starting_is_held_for_the_sweep_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    logger = logging.getLogger("ray._private.test_live_view")
    terminal = logging.StreamHandler(sys.stderr)
    logger.addHandler(terminal)
    try:
        with held_start_up_logs():
            logger.warning("Token authentication is enabled for this Ray cluster.")
        assert terminal in logger.handlers and len(logger.handlers) == 1
        assert capsys.readouterr().err == ""
        with chatter_to_file(tmp_path / "sweep.log"):
            logger.warning("a later line")
    finally:
        logger.removeHandler(terminal)
    lines = (tmp_path / "sweep.log").read_text().splitlines()
    assert ["Token authentication" in lines[0], "a later line" in lines[1], len(lines)] == [True, True, 2]


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (9, 75, 3700)] == ["9s", "1m15s", "1h01m"]


def test_warnings_reach_the_terminal_while_the_chatter_goes_to_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    with SweepProgress(tmp_path / "sweep.log", console=Console(file=io.StringIO())) as progress:
        print("mlflow migration chatter", file=sys.stderr)
        progress.warn("warning: the 'weak' view of dataset 'digits' agrees with the val view at NMI 0.20")
    err = capsys.readouterr().err
    assert "warning: the 'weak' view of dataset 'digits'" in err and "chatter" not in err
    assert "mlflow migration chatter" in (tmp_path / "sweep.log").read_text()
