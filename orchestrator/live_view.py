"""What a running sweep shows: a header, a progress bar with ETA, one row per running trial, and a closing summary.

This module knows nothing of Ray: ``SweepBoard`` is fed trial events (``orchestrator.progress`` translates Ray
Tune's callbacks into them) and renders either a rich renderable redrawn in place (a terminal) or one plain line
per finished trial (CI logs, pipes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

MAX_ROWS = 20  # running trials listed by name; the rest are counted


@dataclass(frozen=True)
class SweepHeader:
    """The sweep being launched: its name, how many trials it plans, skips as finished and runs now, and where."""

    sweep: str
    planned: int | None  # None: a resumed sweep, whose counts come from Ray's saved state
    skipped: int | None
    to_run: int | None
    tracking_uri: str
    workdir: Path

    def lines(self) -> list[str]:
        counts = (
            "resuming its unfinished trials" if self.planned is None
            else f"{self.planned} trials planned, {self.skipped} skipped as finished, {self.to_run} to run"
        )
        return [f"sweep {self.sweep}: {counts}", f"MLflow {self.tracking_uri}", f"workdir {self.workdir}"]


@dataclass
class TrialRow:
    """One trial as the view knows it: our name, its epochs so far and the last accuracy and pruned fraction."""

    name: str
    epochs: int | None
    epoch: int = 0
    acc: float | None = None
    pruned: float | None = None
    started: float = field(default_factory=time.monotonic)

    def update(self, result: dict[str, float]) -> None:
        self.epoch = int(result.get("epoch") or self.epoch)
        self.acc = result.get("acc", self.acc)
        self.pruned = result.get("pruned_frac", self.pruned)

    @property
    def fraction_done(self) -> float:
        return min(1.0, self.epoch / self.epochs) if self.epochs else 0.0


class SweepBoard:
    """The state of a launch: trials running, done and failed, and the estimates drawn from them."""

    def __init__(self, header: SweepHeader, clock=time.monotonic) -> None:
        self.header = header
        self._clock = clock
        self._started = clock()
        self.total = header.to_run or 0
        self.running: dict[str, TrialRow] = {}
        self.done = 0
        self.failed = 0

    def start(self, trial_id: str, name: str, epochs: int | None) -> None:
        self.running.setdefault(trial_id, TrialRow(name, epochs, started=self._clock()))

    def result(self, trial_id: str, result: dict[str, float]) -> None:
        row = self.running.get(trial_id)
        if row is not None:
            row.update(result)

    def finish(self, trial_id: str, failed: bool) -> TrialRow | None:
        """Move a trial out of the running rows; returns its last row (None if it was never seen running)."""
        row = self.running.pop(trial_id, None)
        self.done += 1
        self.failed += int(failed)
        self.total = max(self.total, self.done + len(self.running))
        return row

    def seen(self, count: int) -> None:
        """Ray reports ``count`` trials in the experiment (a restored sweep learns its total this way)."""
        self.total = max(self.total, count)

    def eta_s(self) -> float | None:
        """Seconds left, from the epoch-weighted fraction done so far; None before any epoch ended."""
        progress = self.done + sum(row.fraction_done for row in self.running.values())
        if self.total == 0 or progress <= 0:
            return None
        elapsed = self._clock() - self._started
        return elapsed * (self.total - progress) / progress

    def bar_line(self) -> str:
        eta = self.eta_s()
        return (
            f"{self.done}/{self.total} done, {len(self.running)} running, {self.failed} failed, "
            f"ETA {format_seconds(eta) if eta is not None else '--'}"
        )

    def finished_line(self, row: TrialRow | None, trial_name: str, failed: bool) -> str:
        """The plain line printed for a finished trial when output is not a terminal."""
        state = "FAILED" if failed else "done"
        if row is None:
            return f"[{self.done}/{self.total}] {trial_name} {state}"
        return (
            f"[{self.done}/{self.total}] {row.name} {state}: epoch {_epochs(row)}, ACC {percent(row.acc)}, "
            f"pruned {percent(row.pruned)}, {format_seconds(self._clock() - row.started)}"
        )

    def summary_lines(self) -> list[str]:
        """What stays on screen after the sweep: the counts, the time taken and the commands that show results."""
        elapsed = format_seconds(self._clock() - self._started)
        return [
            f"{self.done} of {self.total} trials ended ({self.failed} failed) in {elapsed}; next:",
            *next_steps(self.header.sweep, self.header.workdir),
        ]

    def renderable(self) -> RenderableType:
        """Bar and running-trial table, redrawn in place by rich Live."""
        bar = ProgressBar(total=max(self.total, 1), completed=self.done, width=40)
        line = Table.grid(padding=(0, 1))
        line.add_row(bar, Text(self.bar_line()))
        rows = Table("trial", "epoch", "ACC %", "pruned %", box=None, header_style="bold", pad_edge=False)
        shown = list(self.running.values())[:MAX_ROWS]
        for row in shown:
            rows.add_row(row.name, _epochs(row), percent(row.acc, sign=False), percent(row.pruned, sign=False))
        if len(self.running) > len(shown):
            rows.add_row(f"... and {len(self.running) - len(shown)} more", "", "", "")
        return Group(line, rows) if shown else line


def next_steps(sweep: str, workdir: Path) -> list[str]:
    """The commands that show a finished sweep's results."""
    return [
        f"  dcsweep report {sweep} --workdir {workdir}    # tables, significance tests, figures",
        f"  dcsweep ui --workdir {workdir}    # MLflow UI on http://127.0.0.1:5000",
    ]


def percent(fraction: float | None, sign: bool = True) -> str:
    """0.8123 -> '81.2%' ('81.2' without the sign); None -> '-'."""
    if fraction is None:
        return "-"
    return f"{100 * fraction:.1f}{'%' if sign else ''}"


def format_seconds(seconds: float) -> str:
    """75 -> '1m15s', 3700 -> '1h01m', 9 -> '9s'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _epochs(row: TrialRow) -> str:
    return f"{row.epoch}/{row.epochs}" if row.epochs else str(row.epoch)
