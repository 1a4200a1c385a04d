"""Aggregate a sweep's trials into cells of mean ± std (n) over seeds, and lay them out as the main table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reports.convergence import WINDOW_FRACTION
from reports.grouping import hidden_dimensions, label, require_columns
from reports.metrics import (
    FRACTION_METRICS,
    higher_is_better,
    is_ranked,
    metric_label,
    to_display,
)
from trainables.metric_names import REFERENCE_METRICS
from reports.names import key_label, value_labels, value_order
from reports.paper import lookup_paper_values
from reports.render import TextTable
from reports.runs import FAILED, FINISHED, SweepRuns
from reports.schema import ReportSpec

EPOCH_CAPTIONS = {
    "last": "at the last epoch",
    "best": "at the best epoch by label ACC (optimistic: ground-truth labels choose the epoch)",
    "early_stop": "at the label-free early-stop epoch (the last epoch for trials that logged no stop_epoch)",
}
FEWER_SEEDS, HAS_UNFINISHED, NOT_CONVERGED, BELOW_REFERENCE = "†", "‡", "§", "¶"
REFERENCE_LABEL = "K-means"
REFERENCE_MARGIN = 2.0
"""Points (display units) by which a trial may end under its K-means reference before its cell is marked ``¶``."""
DECIMALS = 1
"""Decimals shown for means and stds (percent), as the paper reports them; the CSV keeps full precision."""
_MAX_LISTED_FAILURES = 10


@dataclass(frozen=True)
class Summary:
    """The aggregated cells of one report.

    Attributes:
        cells: one row per (row keys, column keys, metric) with ``mean``, ``std`` (ddof=1), ``n`` finished
            seeds, ``n_finished`` (finished trials, with or without the metric), ``n_failed``, ``n_unfinished``
            (failed or still running), ``n_not_converged`` (finished trials whose loss or ACC still moved at the
            end), ``short`` (n below the expected seeds, unless the finished trials did not log the metric at
            all), ``best`` (best arm of its block and column, see ``best_in_blocks``), ``paper`` and ``delta``
            (ours - paper, when a paper table is named). Values are in display units: percent for fraction
            metrics. Rows come in the spec's order (see ``names.value_order``).
        row_keys: the spec's rows plus ``split_keys``.
        block_keys: the row keys that form blocks of rows compared for bold (the spec's rows except ``arm``).
        split_keys: attributes that varied inside the requested cells and now split the rows.
        labels: the display name of each value of each key.
        reference: K-means on the pre-trained features, one row per (column keys, metric) with ``mean``, ``std``
            and ``n`` seeds; empty when the trials logged no ``REFERENCE_METRICS``.
        unfinished: the trials that did not finish: ``trial_name``, ``status``, ``error``.
    """

    sweep: str
    cells: pd.DataFrame
    row_keys: list[str]
    column_keys: list[str]
    block_keys: list[str]
    metrics: list[str]
    split_keys: list[str]
    labels: dict[str, dict[Any, str]]
    reference: pd.DataFrame
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
    cells = _in_spec_order(pd.DataFrame(records), runs.spec, keys)
    expected = expected_seeds(runs, keys)
    cells["short"] = (cells["n"] < expected) & ~((cells["n"] == 0) & (cells["n_finished"] > 0))
    block_keys = [k for k in spec.rows if k != "arm"]
    cells["best"] = best_in_blocks(cells, [*block_keys, *spec.columns])
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
        block_keys=block_keys,
        metrics=list(spec.metrics),
        split_keys=split,
        labels={k: value_labels(k, cells[k]) for k in keys},
        reference=_reference_cells(runs.finished, list(spec.columns), spec.metrics),
        expected_seeds=expected,
        epoch=runs.epoch,
        n_trials=len(runs.trials),
        unfinished=unfinished.reset_index(drop=True),
        paper_table=spec.paper_table,
    )


def best_in_blocks(cells: pd.DataFrame, block_keys: list[str]) -> pd.Series:
    """True where a cell's mean is the best of its block (cells sharing ``block_keys`` and metric), as shown.

    Means compare at the shown precision (``DECIMALS``): cells that tie there are all best, and a block whose
    cells all tie (or that has one cell) has no best. Metrics without a better direction (``is_ranked``) never do.
    """
    best = pd.Series(False, index=cells.index)
    for _, block in cells.groupby([*block_keys, "metric"], dropna=False, sort=False):
        means = block["mean"].dropna().round(DECIMALS)
        if not is_ranked(block["metric"].iloc[0]) or means.nunique() < 2:
            continue
        target = means.max() if higher_is_better(block["metric"].iloc[0]) else means.min()
        best[means.index[means == target]] = True
    return best


def row_values(summary: Summary) -> list[tuple]:
    """The rows of the main table as tuples of ``row_keys`` values, in the spec's order."""
    if not summary.row_keys:
        return [()]
    rows = summary.cells[summary.row_keys].drop_duplicates()
    return [tuple(row) for row in rows.itertuples(index=False)]


def column_values(summary: Summary) -> list[tuple]:
    """The column groups as tuples of ``column_keys`` values, in the spec's order."""
    if not summary.column_keys:
        return [()]
    columns = summary.cells[summary.column_keys].drop_duplicates()
    return [tuple(column) for column in columns.itertuples(index=False)]


def shown(summary: Summary, keys: list[str], values: tuple) -> tuple[str, ...]:
    """The display names of ``values`` of ``keys``."""
    return tuple(summary.labels[k].get(v, label(v)) for k, v in zip(keys, values, strict=True))


def in_report_order(frame: pd.DataFrame, summary: Summary, keys: list[str]) -> pd.DataFrame:
    """``frame`` sorted by ``keys`` in the order their values have in the report's rows and columns."""
    ranks = {k: {v: i for i, v in enumerate(summary.labels[k])} for k in keys}
    if not keys or frame.empty:
        return frame.reset_index(drop=True)
    return frame.sort_values(keys, key=lambda s: s.map(ranks[s.name]), kind="stable").reset_index(drop=True)


def column_headers(summary: Summary) -> list[str]:
    """One header per column group (e.g. ``CIFAR-10``); a single empty one when the table has no column keys."""
    return [" / ".join(shown(summary, summary.column_keys, c)) for c in column_values(summary)]


def block_starts(summary: Summary, rows: list[tuple]) -> list[int]:
    """Indices of the rows that start a new block (other than the first row)."""
    positions = [i for i, k in enumerate(summary.row_keys) if k in summary.block_keys]
    blocks = [tuple(row[i] for i in positions) for row in rows]
    return [i for i in range(1, len(rows)) if blocks[i] != blocks[i - 1]]


def main_table(summary: Summary) -> TextTable:
    """The mean ± std table: an optional K-means reference row, then rows by ``row_keys``, a column group per
    column value and a column per metric."""
    rows, columns = row_values(summary), column_values(summary)
    index = [shown(summary, summary.row_keys, row) for row in rows]
    table_cells = [[_text_at(summary, row, c, m) for c in columns for m in summary.metrics] for row in rows]
    bold = [[_best_at(summary, row, c, m) for c in columns for m in summary.metrics] for row in rows]
    breaks = block_starts(summary, rows)
    if len(summary.reference):
        index.insert(0, (REFERENCE_LABEL, *[""] * (len(summary.row_keys) - 1)))
        table_cells.insert(0, [_reference_text(summary, c, m) for c in columns for m in summary.metrics])
        bold.insert(0, [False] * len(table_cells[0]))
        breaks = [1, *(b + 1 for b in breaks)]
    return TextTable(
        title=f"{summary.sweep}: {_aggregate_caption(summary.expected_seeds)}, {EPOCH_CAPTIONS[summary.epoch]}",
        label=summary.sweep,
        index_names=[key_label(k) for k in summary.row_keys],
        index=index,
        groups=column_headers(summary) if summary.column_keys else [""],
        subcolumns=[metric_label(m) for m in summary.metrics],
        cells=table_cells,
        bold=bold,
        notes=table_notes(summary),
        breaks=breaks,
    )


def _aggregate_caption(seeds: int) -> str:
    return f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"


def cell_text(cell: pd.Series, expected: int) -> str:
    """``mean ± std`` with ``DECIMALS`` decimals, ``(n)`` when n differs from ``expected``, then the markers: ``†`` n is
    short, ``‡`` trials did not finish, ``§`` seeds had not converged, ``¶`` seeds ended under K-means."""
    n = int(cell["n"])
    if n == 0:
        text = "–"
    elif n == 1:
        text = f"{cell['mean']:.{DECIMALS}f}" + (" (1)" if expected != 1 else "")
    else:
        text = f"{cell['mean']:.{DECIMALS}f} ± {cell['std']:.{DECIMALS}f}" + (f" ({n})" if n != expected else "")
    markers = [(FEWER_SEEDS, cell["short"]), (HAS_UNFINISHED, cell["n_unfinished"]),
               (NOT_CONVERGED, cell["n_not_converged"]), (BELOW_REFERENCE, cell["n_below_reference"])]
    return text + "".join(mark for mark, present in markers if present)


def table_notes(summary: Summary) -> list[str]:
    """The footnotes: what the numbers are, bold, split rows, the reference row and every marker."""
    percent = [metric_label(m) for m in summary.metrics if m in FRACTION_METRICS]
    cells = summary.cells
    aggregate = (
        f"Mean ± sample std (ddof=1) over seeds; (n) = finished seeds where fewer than {summary.expected_seeds}"
        if summary.expected_seeds > 1 else "One seed per cell, so no std"
    )
    notes = [aggregate + (f"; {', '.join(percent)} in percent." if percent else ".")]
    if cells["best"].any():
        names = list(dict.fromkeys(key_label(k) for k in [*summary.block_keys, *summary.column_keys]))
        blocks = f"{', '.join(names)} and " if names else ""
        unranked = [metric_label(m) for m in summary.metrics if not is_ranked(m)]
        notes.append(
            f"Bold: the best arm per {blocks}metric; arms that tie at the shown precision are all bold, and "
            "none is when every arm ties" + (f"; {', '.join(unranked)} is not ranked." if unranked else ".")
        )
    if len(summary.reference):
        notes.append(f"{REFERENCE_LABEL}: K-means on the pre-trained features, before any clustering training.")
    if ((cells["n"] == 0) & (cells["n_finished"] > 0)).any():
        notes.append("– = the finished trials did not log this metric.")
    if summary.split_keys:
        notes.append(f"Rows are also split by {', '.join(summary.split_keys)}, which vary inside the requested cells.")
    if cells["short"].any():
        notes.append(f"{FEWER_SEEDS} fewer finished seeds than the {summary.expected_seeds} the spec asked for.")
    if (cells["n_not_converged"] > 0).any():
        notes.append(
            f"{NOT_CONVERGED} not converged: in some seeds the loss or ACC still moved over the last "
            f"{WINDOW_FRACTION:.0%} of epochs (more epochs are needed)."
        )
    if (cells["n_below_reference"] > 0).any():
        notes.append(
            f"{BELOW_REFERENCE} under K-means: in some seeds the value ended more than {REFERENCE_MARGIN:g} points "
            f"below K-means on the same pre-trained features, so training lost part of what the features give (e.g. a "
            f"head whose clusters cut across classes, as below_kmeans.md shows seed by seed), and a difference "
            f"against this cell partly measures that loss."
        )
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


def find_cell(summary: Summary, row: tuple, column: tuple, metric: str) -> pd.Series | None:
    """The cell at the given row and column values for ``metric``, or None when no trial has them."""
    cells = summary.cells
    mask = cells["metric"] == metric
    for key, value in zip([*summary.row_keys, *summary.column_keys], [*row, *column], strict=True):
        mask &= cells[key].map(label) == label(value)
    found = cells[mask]
    return found.iloc[0] if len(found) else None


def _text_at(summary: Summary, row: tuple, column: tuple, metric: str) -> str:
    cell = find_cell(summary, row, column, metric)
    return cell_text(cell, summary.expected_seeds) if cell is not None else "–"


def _best_at(summary: Summary, row: tuple, column: tuple, metric: str) -> bool:
    cell = find_cell(summary, row, column, metric)
    return bool(cell is not None and cell["best"])


def _reference_text(summary: Summary, column: tuple, metric: str) -> str:
    """The K-means reference cell of ``column`` for ``metric``: ``mean ± std``, or – where not logged."""
    found = summary.reference[summary.reference["metric"] == metric]
    for key, value in zip(summary.column_keys, column, strict=True):
        found = found[found[key].map(label) == label(value)]
    if found.empty:
        return "–"
    cell = found.iloc[0]
    return cell_text(pd.Series({**cell, "short": False, "n_unfinished": 0, "n_not_converged": 0,
                                "n_below_reference": 0}), summary.expected_seeds)


def _reference_cells(finished: pd.DataFrame, column_keys: list[str], metrics: list[str]) -> pd.DataFrame:
    """K-means on the pre-trained features per column group and metric: mean ± std over seeds.

    K-means runs once per trial on features that do not depend on the arm, so the trials of one seed are first
    averaged into one value per seed.
    """
    wanted = {m: REFERENCE_METRICS[m] for m in metrics if REFERENCE_METRICS.get(m) in finished}
    records = []
    groups = finished.groupby(column_keys, dropna=False, sort=False) if column_keys else [((), finished)]
    for values, group in groups:
        for metric, reference in wanted.items():
            per_seed = group.groupby("seed")[reference].mean().dropna().map(lambda v, r=reference: to_display(r, v))
            if per_seed.empty:
                continue
            records.append({**dict(zip(column_keys, _as_tuple(values), strict=True)), "metric": metric,
                            "mean": per_seed.mean(), "std": per_seed.std(ddof=1), "n": len(per_seed)})
    return pd.DataFrame(records, columns=[*column_keys, "metric", "mean", "std", "n"])


def _in_spec_order(cells: pd.DataFrame, spec: dict[str, Any], keys: list[str]) -> pd.DataFrame:
    """``cells`` sorted by ``keys``, each key's values in the spec's order (``names.value_order``)."""
    if not keys:
        return cells
    ranks = {k: {v: i for i, v in enumerate(value_order(spec, k, cells[k]))} for k in keys}
    return cells.sort_values(keys, key=lambda s: s.map(ranks[s.name]), kind="stable").reset_index(drop=True)


def _cell_records(group: pd.DataFrame, attrs: dict[str, Any], keys: list[str], metrics: list[str]) -> list[dict]:
    """One record per metric for the trials of one cell."""
    finished = group[group["status"] == FINISHED]
    n_failed = int((group["status"] == FAILED).sum())
    records = []
    for metric in metrics:
        logged = finished[finished[metric].notna()] if metric in group else finished.iloc[:0]
        values = np.asarray([to_display(metric, v) for v in logged.get(metric, [])], dtype=float)
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
                "n_not_converged": int(logged["not_converged"].sum()),
                "n_below_reference": int(below_reference(logged, metric).sum()),
                "attrs": attrs,
            }
        )
    return records


def below_reference(trials: pd.DataFrame, metric: str) -> pd.Series:
    """[len(trials)] bool: the trial ended more than ``REFERENCE_MARGIN`` points under its own K-means reference of
    ``metric`` (all False when the metric has none or the trials did not log it; a NaN reference compares False)."""
    reference = REFERENCE_METRICS.get(metric)
    if reference not in trials:
        return pd.Series(False, index=trials.index)
    value = trials[metric].map(lambda v: to_display(metric, v))
    floor = trials[reference].map(lambda v: to_display(reference, v)) - REFERENCE_MARGIN
    return value < floor


def _constant_params(runs: SweepRuns, group: pd.DataFrame) -> dict[str, Any]:
    """The params (and arm) that take one value across ``group``; used to match the paper's rows."""
    columns = ["arm", *runs.param_columns]
    return {c: group[c].iloc[0] for c in columns if group[c].nunique(dropna=False) == 1}


def _as_tuple(values: Any) -> tuple:
    return values if isinstance(values, tuple) else (values,)
