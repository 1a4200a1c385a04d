"""The driver's view of a running sweep: a Ray Tune callback feeding ``SweepBoard``, and Ray's chatter sent to a file.

On a terminal the board is redrawn in place (rich Live); otherwise one plain line is printed per finished trial.
While the sweep runs, everything else printed in this process (Ray's status and checkpoint lines, worker logs
forwarded to the driver, warnings) goes to ``<workdir>/logs/<sweep>.log``.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from ray import tune
from rich.console import Console
from rich.live import Live

from orchestrator.live_view import SweepBoard, SweepHeader
from orchestrator.tracked_trial import resolve_trial

EPOCHS_KEY = "train.epochs"
REFRESH_PER_S = 2
QUIETED_LOGGERS = ("ray", "optuna", "mlflow", "alembic")  # with the root logger: written to the log file


_HELD: list[logging.LogRecord] = []  # what Ray logged while it started; the next sweep log to open receives it


def log_path(workdir: Path, sweep: str) -> Path:
    """Where a sweep's Ray and worker output goes: ``<workdir>/logs/<sweep>.log``."""
    return workdir / "logs" / f"{sweep}.log"


class SweepProgress(tune.Callback):
    """A Tune callback that shows the sweep. Use it as a context manager around the whole launch: from the moment
    it is entered, output goes to ``log_file``; ``show(header)`` then prints the header and starts the view.

    Args:
        log_file: where MLflow's, Ray's and Optuna's output goes while the view is open.
        console: where the view is drawn (default: this process's stdout); plain lines unless it is a terminal.
    """

    def __init__(self, log_file: Path, console: Console | None = None) -> None:
        self.board: SweepBoard | None = None
        self._log_file = log_file
        self._console = console
        self._stack = contextlib.ExitStack()
        self._live: Live | None = None
        self._warnings: Console | None = None

    def __enter__(self) -> SweepProgress:
        self._console = self._console or Console(file=sys.stdout)
        self._warnings = Console(file=sys.stderr)  # bound before the chatter goes to the log file
        self._console.print(
            f"preparing the sweep (feature cache, MLflow, Ray); their output goes to {self._log_file}",
            highlight=False, soft_wrap=True,
        )
        self._stack.enter_context(chatter_to_file(self._log_file))
        return self

    def warn(self, line: str) -> None:
        """One line (already saying ``warning: ...``) on the terminal's stderr, while the rest goes to the log file."""
        self._warnings.print(line, highlight=False, soft_wrap=True)

    def show(self, header: SweepHeader) -> None:
        """Print the header and start the view (redrawn in place on a terminal)."""
        self.board = SweepBoard(header)
        for line in header.lines():
            self._console.print(line, highlight=False, soft_wrap=True)
        if self._console.is_terminal:
            self._live = Live(
                get_renderable=self.board.renderable, console=self._console, refresh_per_second=REFRESH_PER_S,
                redirect_stdout=False, redirect_stderr=False,
            )
            self._stack.enter_context(self._live)

    def __exit__(self, *exc_info: Any) -> None:
        self._stack.close()
        self._live = None
        if self.board is not None:
            for line in self.board.summary_lines():
                self._console.print(line, highlight=False, soft_wrap=True)

    def __reduce__(self) -> tuple[type, tuple[()]]:
        """Ray pickles the run config into the experiment folder; the view is stored as a callback that does nothing."""
        return tune.Callback, ()

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        self.board.seen(len(trials))

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        planned = resolve_trial(trial.config)
        epochs = planned.config.get(EPOCHS_KEY)
        self.board.start(trial.trial_id, planned.name, int(epochs) if epochs is not None else None)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.board.result(trial.trial_id, result)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finished(trial, failed=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finished(trial, failed=True)

    def _finished(self, trial: Any, failed: bool) -> None:
        row = self.board.finish(trial.trial_id, failed)
        if self._live is None:
            line = self.board.finished_line(row, resolve_trial(trial.config).name, failed)
            self._console.print(line, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def held_start_up_logs() -> Iterator[None]:
    """While Ray starts, hold what the root and ``QUIETED_LOGGERS`` would print (e.g. Ray's token-authentication
    warning); the sweep's log file, which must not exist before Ray accepted the sweep, receives it when it opens."""
    holder = _Holder()
    swapped = _swap_terminal_handlers(holder)
    try:
        yield
    finally:
        _restore_terminal_handlers(swapped, holder)


class _Holder(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        _HELD.append(record)


@contextlib.contextmanager
def chatter_to_file(path: Path) -> Iterator[TextIO]:
    """Send this process's stdout, stderr and the terminal handlers of the root and ``QUIETED_LOGGERS`` to ``path``,
    after the records held while Ray started."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", buffering=1) as log:
        file_handler = logging.StreamHandler(log)
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
        for record in _HELD:
            file_handler.handle(record)
        _HELD.clear()
        terminal = sys.stderr
        swapped = _swap_terminal_handlers(file_handler)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield log
        finally:
            _restore_terminal_handlers(swapped, file_handler)
            _point_back(log, terminal)


def _restore_terminal_handlers(
    swapped: list[tuple[logging.Logger, list[logging.Handler]]], replacement: logging.Handler
) -> None:
    for logger, handlers in swapped:
        logger.removeHandler(replacement)
        for handler in handlers:
            logger.addHandler(handler)


def _point_back(log: TextIO, terminal: TextIO) -> None:
    """Handlers created while output was redirected (e.g. by ``ray.init``) write to the terminal again."""
    for logger in _quieted_loggers():
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is log:
                handler.setStream(terminal)


def _quieted_loggers() -> list[logging.Logger]:
    names = [name for name in logging.root.manager.loggerDict if name.split(".")[0] in QUIETED_LOGGERS]
    return [logging.getLogger(), *(logging.getLogger(name) for name in names)]


def _swap_terminal_handlers(replacement: logging.Handler) -> list[tuple[logging.Logger, list[logging.Handler]]]:
    """Replace the terminal handlers of the root logger and ``QUIETED_LOGGERS``; returns what was removed."""
    swapped = []
    for logger in _quieted_loggers():
        terminal = [handler for handler in logger.handlers if _writes_to_terminal(handler)]
        if not terminal:
            continue
        for handler in terminal:
            logger.removeHandler(handler)
        logger.addHandler(replacement)
        swapped.append((logger, terminal))
    return swapped


def _writes_to_terminal(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    terminals = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    return not isinstance(handler, logging.FileHandler) and stream in terminals
