"""Per-epoch health of sample selection (method.md, DSS health) for the cells whose trials left samples out.

For each such cell, and for a few epochs from the first with exclusions to the last, the mean over its finished
seeds of:
- ``pruned_frac``: the share of samples not trained that epoch;
- ``reinclusion_frac``: the share of the previous epoch's excluded samples trained again this epoch;
- ``pruned_acc``: the share of this epoch's excluded samples that the model clusters correctly (labels needed).
A healthy DSS run excludes mostly correct samples and re-includes few of them; one that re-includes most of each
epoch's excluded set is excluding on noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.metrics import metric_label
from reports.names import key_label
from reports.render import EMPTY, TextTable
from reports.runs import SweepRuns
from reports.tables import Summary, row_values, shown

HEALTH_METRICS = ("pruned_frac", "reinclusion_frac", "pruned_acc")
MAX_EPOCHS_SHOWN = 8


def selection_health(runs: SweepRuns, summary: Summary) -> pd.DataFrame:
    """One row per (the summary's row and column keys, ``metric``, ``epoch``): ``mean`` in percent over the cell's
    finished seeds and ``n``, for the finished trials that excluded samples in some epoch (empty when none did)."""
    keys = [*summary.row_keys, *summary.column_keys]
    histories = runs.histories
    if "pruned_frac" not in histories:
        return pd.DataFrame(columns=[*keys, "metric", "epoch", "mean", "n"])
    pruning = histories.groupby("run_id")["pruned_frac"].max().loc[lambda frac: frac > 0].index
    trials = runs.finished[runs.finished["run_id"].isin(pruning)]
    metrics = [m for m in HEALTH_METRICS if m in histories]
    history = histories[["run_id", "epoch", *metrics]].merge(trials[["run_id", *keys]], on="run_id")
    long = history.melt(id_vars=[*keys, "run_id", "epoch"], value_vars=metrics, var_name="metric").dropna()
    cells = long.groupby([*keys, "metric", "epoch"], sort=False)["value"].agg(mean="mean", n="count").reset_index()
    cells["mean"] *= 100
    return cells


def shown_epochs(cells: pd.DataFrame) -> list[int]:
    """At most ``MAX_EPOCHS_SHOWN`` epochs, evenly spaced from the first with exclusions to the last logged."""
    pruned = cells[(cells["metric"] == "pruned_frac") & (cells["mean"] > 0)]
    first, last = int(pruned["epoch"].min()), int(cells["epoch"].max())
    count = min(MAX_EPOCHS_SHOWN, last - first + 1)
    return sorted({int(round(e)) for e in np.linspace(first, last, count)})


def health_tables(cells: pd.DataFrame, summary: Summary) -> list[TextTable]:
    """One table per column value (e.g. dataset): a row per (cell, signal), a column per shown epoch."""
    if cells.empty:
        return []
    groups = cells.groupby(summary.column_keys, sort=False) if summary.column_keys else [((), cells)]
    return [_health_table(group, summary, column) for column, group in groups]


def _health_table(cells: pd.DataFrame, summary: Summary, column: tuple | str) -> TextTable:
    column = column if isinstance(column, tuple) else (column,)
    epochs = shown_epochs(cells)
    rows = [row for row in row_values(summary) if _select(cells, summary.row_keys, row).size]
    index, table_cells = [], []
    for row in rows:
        in_row = _select(cells, summary.row_keys, row)
        for metric in (m for m in HEALTH_METRICS if (in_row["metric"] == m).any()):
            values = in_row[in_row["metric"] == metric].set_index("epoch")["mean"]
            index.append((*shown(summary, summary.row_keys, row), metric_label(metric)))
            table_cells.append([f"{values[e]:.0f}" if e in values.index else EMPTY for e in epochs])
    where = " / ".join(shown(summary, summary.column_keys, column))
    n_seeds = int(cells["n"].max())
    return TextTable(
        title=f"{summary.sweep}{f' ({where})' if where else ''}: sample selection per epoch, % (mean over up to "
        f"{n_seeds} seeds)",
        label=f"{summary.sweep}-selection-{where}",
        index_names=[*(key_label(k) for k in summary.row_keys), "signal"],
        index=index,
        groups=[""],
        subcolumns=[f"ep {e}" for e in epochs],
        cells=table_cells,
        bold=[[False] * len(epochs) for _ in table_cells],
        notes=[f"{EMPTY}: not logged that epoch (nothing was excluded before it, the trial had ended, or no labels)."],
    )


def _select(cells: pd.DataFrame, keys: list[str], values: tuple) -> pd.DataFrame:
    mask = np.logical_and.reduce([cells[k] == v for k, v in zip(keys, values, strict=True)])
    return cells[mask]
