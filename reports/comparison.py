"""The side-by-side table of our means and the paper's values, with ours - paper per cell."""

from __future__ import annotations

import pandas as pd

from reports.metrics import metric_label
from reports.names import key_label
from reports.paper import paper_tables
from reports.render import TextTable
from reports.tables import Summary, block_starts, column_headers, column_values, find_cell, row_values, shown


def comparison_table(summary: Summary) -> TextTable | None:
    """Ours, paper and Δ = ours - paper for each cell and metric; None when the spec names no paper table."""
    if summary.paper_table is None:
        return None
    rows, groups = row_values(summary), column_values(summary)
    cells: list[list[str]] = []
    for row in rows:
        texts = []
        for group in groups:
            for metric in summary.metrics:
                cell = find_cell(summary, row, group, metric)
                ours, paper = (cell["mean"], cell["paper"]) if cell is not None else (float("nan"),) * 2
                texts += [_number(ours), _number(paper), _number(ours - paper, signed=True)]
        cells.append(texts)
    matched = int(summary.cells["paper"].notna().sum())
    title = paper_tables()[summary.paper_table]["title"]
    return TextTable(
        title=f"{summary.sweep} vs the paper's {title}",
        label=f"{summary.sweep}-paper",
        index_names=[key_label(k) for k in summary.row_keys],
        index=[shown(summary, summary.row_keys, row) for row in rows],
        groups=column_headers(summary) if summary.column_keys else [""],
        subcolumns=[f"{metric_label(m)} {part}" for m in summary.metrics for part in ("ours", "paper", "Δ")],
        cells=cells,
        bold=[[False] * len(texts) for texts in cells],
        notes=[
            f"Ours = mean over seeds; paper = {summary.paper_table} of paper_reference.yaml; Δ = ours - paper, "
            f"in percent points; {matched} of {len(summary.cells)} cells have a paper value (– where none)."
        ],
        breaks=block_starts(summary, rows),
    )


def _number(value: float, signed: bool = False) -> str:
    if pd.isna(value):
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"
