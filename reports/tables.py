"""Aggregate a sweep's trials into cells of mean ± std (n) over seeds, and lay them out as the main table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reports.grouping import arm_order, hidden_dimensions, label, require_columns, sort_key
from reports.metrics import FRACTION_METRICS, higher_is_better, metric_label, to_display
from reports.paper import lookup_paper_values
from reports.render import TextTable
from reports.runs import FAILED, FINISHED, SweepRuns
from reports.schema import ReportSpec

EPOCH_CAPTIONS = {
    "last": "at the last epoch",
    "best": "at the best epoch by label ACC (optimistic: ground-truth labels choose the epoch)",
    "early_stop": "at the label-free early-stop epoch (the last epoch for trials that logged no stop_epoch)",
}
FEWER_SEEDS, HAS_UNFINISHED = "†", "‡"
_MAX_LISTED_FAILURES = 10


@dataclass(frozen=True)
class Summary:
    """The aggregated cells of one report.

    Attributes:
        cells: one row per (row keys, column keys, metric) with ``mean``, ``std`` (ddof=1), ``n`` finished
            seeds, ``n_finished`` (finished trials, with or without the metric), ``n_failed``, ``n_unfinished``
            (failed or still running), ``short`` (n below the expected seeds, unless the finished trials did
            not log the metric at all), ``best`` (best in its column), ``paper`` and ``delta`` (ours - paper,
            when a paper table is named). Values are in display units: percent for fraction metrics.
        row_keys: the spec's rows plus ``split_keys``.
        split_keys: attributes that varied inside the requested cells and now split the rows.
        unfinished: the trials that did not finish: ``trial_name``, ``status``, ``error``.
    """

    sweep: str
    cells: pd.DataFrame
    row_keys: list[str]
    column_keys: list[str]
    metrics: list[str]
    split_keys: list[str]
    expected_seeds: int
    epoch: str
    n_trials: int
    unfinished: pd.DataFrame
    paper_table: str | None


def expected_seeds(runs: SweepRuns, keys: list[str]) -> int:
    """Seeds per cell the spec asked for (its ``seeds`` list or count), else the most trials in any cell."""
    seeds = runs.spec.get("seeds")
    if isinstance(seeds, list) and seeds:
        return len(seeds)
    if isinstance(seeds, int) and seeds > 0:
        return seeds
    return int(runs.trials.groupby(keys, dropna=False).size().max()) if keys else len(runs.trials)


def summarize(runs: SweepRuns, spec: ReportSpec) -> Summary:
    """Group ``runs`` by ``spec.rows`` x ``spec.columns`` and aggregate ``spec.metrics`` over seeds.

    Raises:
        ReportError: a row or column key is not an attribute of the trials, or the paper table is unknown.
    """
    require_columns(runs, [*spec.rows, *spec.columns])
    split = [k for k in hidden_dimensions(runs, [*spec.rows, *spec.columns]) if k not in spec.rows]
    row_keys = [*spec.rows, *split]
    keys = [*row_keys, *spec.columns]
    records = []
    for values, group in runs.trials.groupby(keys, dropna=False, sort=False) if keys else [((), runs.trials)]:
        attrs = {**_constant_params(runs, group), **dict(zip(keys, _as_tuple(values), strict=True))}
        records += _cell_records(group, attrs, keys, spec.metrics)
    cells = pd.DataFrame(records)
    if keys:
        arms = arm_order(runs, spec.baseline_arm)
        cells = cells.sort_values(keys, key=lambda s: sort_key(s, arms), kind="stable").reset_index(drop=True)
    expected = expected_seeds(runs, keys)
    cells["short"] = (cells["n"] < expected) & ~((cells["n"] == 0) & (cells["n_finished"] > 0))
    cells["best"] = _best_per_column(cells, spec.columns)
    if spec.paper_table:
        paper = lookup_paper_values(spec.paper_table, cells["attrs"].tolist(), cells["metric"].tolist(), runs.epoch)
        cells["paper"] = paper
        cells["delta"] = cells["mean"] - cells["paper"]
    unfinished = runs.trials.loc[runs.trials["status"] != FINISHED, ["trial_name", "status", "error"]]
    return Summary(
        sweep=runs.sweep,
        cells=cells,
        row_keys=row_keys,
        column_keys=list(spec.columns),
        metrics=list(spec.metrics),
        split_keys=split,
        expected_seeds=expected,
        epoch=runs.epoch,
        n_trials=len(runs.trials),
        unfinished=unfinished.reset_index(drop=True),
        paper_table=spec.paper_table,
    )


def main_table(summary: Summary) -> TextTable:
    """The mean ± std (n) table: rows by ``row_keys``, a column group per column value, a column per metric."""
    index, groups = row_labels(summary), column_labels(summary)
    table_cells, bold = [], []
    for row in index:
        texts, flags = [], []
        for group in groups:
            for metric in summary.metrics:
                cell = find_cell(summary, row, group, metric)
                texts.append(cell_text(cell) if cell is not None else "–")
                flags.append(bool(cell is not None and cell["best"]))
        table_cells.append(texts)
        bold.append(flags)
    return TextTable(
        title=f"{summary.sweep}: mean ± std (n) over seeds, {EPOCH_CAPTIONS[summary.epoch]}",
        index_names=summary.row_keys,
        index=index,
        groups=[" / ".join(g) for g in groups] if summary.column_keys else [""],
        subcolumns=[metric_label(m) for m in summary.metrics],
        cells=table_cells,
        bold=bold,
        notes=table_notes(summary),
    )


def cell_text(cell: pd.Series) -> str:
    """``mean ± std (n)`` with two decimals, plus ``†`` when n is short and ``‡`` when trials did not finish."""
    n = int(cell["n"])
    if n == 0:
        text = "–"
    elif n == 1:
        text = f"{cell['mean']:.2f} (1)"
    else:
        text = f"{cell['mean']:.2f} ± {cell['std']:.2f} ({n})"
    return text + (FEWER_SEEDS if cell["short"] else "") + (HAS_UNFINISHED if cell["n_unfinished"] else "")


def table_notes(summary: Summary) -> list[str]:
    """The footnotes: what the numbers are, which rows were split, short cells and every unfinished trial."""
    percent = [metric_label(m) for m in summary.metrics if m in FRACTION_METRICS]
    notes = [
        "Mean ± sample std (ddof=1) over seeds; (n) = finished seeds"
        + (f"; {', '.join(percent)} in percent" if percent else "")
        + "; best per column in bold."
    ]
    if ((summary.cells["n"] == 0) & (summary.cells["n_finished"] > 0)).any():
        notes.append("– = the finished trials did not log this metric.")
    if summary.split_keys:
        notes.append(f"Rows are also split by {', '.join(summary.split_keys)}, which vary inside the requested cells.")
    if summary.cells["short"].any():
        notes.append(f"{FEWER_SEEDS} fewer finished seeds than the {summary.expected_seeds} the spec asked for.")
    if len(summary.unfinished):
        listed = [
            f"{r.trial_name} ({r.status}" + (f": {r.error})" if isinstance(r.error, str) else ")")
            for r in summary.unfinished.head(_MAX_LISTED_FAILURES).itertuples()
        ]
        more = len(summary.unfinished) - len(listed)
        notes.append(
            f"{HAS_UNFINISHED} {len(summary.unfinished)} of {summary.n_trials} trials did not finish and are not in "
            f"the means: {'; '.join(listed)}" + (f"; and {more} more (see failed_trials.csv)." if more else ".")
        )
    return notes


def cells_csv(summary: Summary) -> pd.DataFrame:
    """The cells as a flat frame for CSV: keys, metric, mean, std, n, n_failed, short, best (and paper, delta)."""
    return summary.cells.drop(columns=["attrs"])


def _cell_records(group: pd.DataFrame, attrs: dict[str, Any], keys: list[str], metrics: list[str]) -> list[dict]:
    """One record per metric for the trials of one cell."""
    finished = group[group["status"] == FINISHED]
    n_failed = int((group["status"] == FAILED).sum())
    records = []
    for metric in metrics:
        values = finished[metric].dropna().map(lambda v, m=metric: to_display(m, v)) if metric in group else []
        values = np.asarray(values, dtype=float)
        records.append(
            {
                **{k: attrs[k] for k in keys},
                "metric": metric,
                "mean": float(values.mean()) if len(values) else np.nan,
                "std": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                "n": len(values),
                "n_finished": len(finished),
                "n_failed": n_failed,
                "n_unfinished": int(len(group) - len(finished)),
                "attrs": attrs,
            }
        )
    return records


def _constant_params(runs: SweepRuns, group: pd.DataFrame) -> dict[str, Any]:
    """The params (and arm) that take one value across ``group``; used to match the paper's rows."""
    columns = ["arm", *runs.param_columns]
    return {c: group[c].iloc[0] for c in columns if group[c].nunique(dropna=False) == 1}


def _best_per_column(cells: pd.DataFrame, column_keys: list[str]) -> pd.Series:
    """True where a cell's mean is the best (max, or min for costs) of its column and metric."""
    best = pd.Series(False, index=cells.index)
    for _, column in cells.groupby([*column_keys, "metric"], dropna=False, sort=False):
        means = column["mean"].dropna()
        if means.empty:
            continue
        target = means.max() if higher_is_better(column["metric"].iloc[0]) else means.min()
        best[means.index[means == target]] = True
    return best


def row_labels(summary: Summary) -> list[tuple[str, ...]]:
    rows = summary.cells[summary.row_keys].drop_duplicates() if summary.row_keys else pd.DataFrame([{}])
    return [tuple(label(v) for v in row) for row in rows.itertuples(index=False)]


def column_labels(summary: Summary) -> list[tuple[str, ...]]:
    if not summary.column_keys:
        return [()]
    columns = summary.cells[summary.column_keys].drop_duplicates().sort_values(summary.column_keys, kind="stable")
    return [tuple(label(v) for v in column) for column in columns.itertuples(index=False)]


def find_cell(summary: Summary, row: tuple[str, ...], column: tuple[str, ...], metric: str) -> pd.Series | None:
    """The cell at the given row and column labels for ``metric``, or None when no trial has them."""
    cells = summary.cells
    mask = cells["metric"] == metric
    for key, value in zip([*summary.row_keys, *summary.column_keys], [*row, *column], strict=True):
        mask &= cells[key].map(label) == value
    found = cells[mask]
    return found.iloc[0] if len(found) else None


def _as_tuple(values: Any) -> tuple:
    return values if isinstance(values, tuple) else (values,)
