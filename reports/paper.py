"""The paper's reported numbers (``paper_reference.yaml``) and their lookup for our report cells.

A paper cell is found for one of our cells when every attribute of the paper row's ``match`` plus its column
(e.g. ``{method.name: cdc, arm: ours, dataset.name: cifar10}``) equals the cell's attribute: a row or column key
or a param that is constant over the cell's trials. ``report.epoch`` matches the report's ``--epoch`` choice.
Names compare case- and punctuation-insensitively (``+DACHI`` = ``dachi``, ``CIFAR-10`` = ``cifar10``).
A paper row's ``dataset.name`` is keyed by the dataset's name, not its path: a cell whose ``dataset.name`` matches
no paper cell (``arrays`` with a grid over ``dataset.root``) is matched by the names in its path, innermost first
(``.../cnae9/data.csv`` is ``cnae9``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from reports.errors import ReportError
from reports.names import dataset_names

REFERENCE_FILE = "paper_reference.yaml"
EPOCH_ATTRIBUTE = "report.epoch"
DATASET_NAME = "dataset.name"


@dataclass(frozen=True)
class PaperEntry:
    """One paper cell: the attributes it describes, and its value per metric (percent; None if not reported)."""

    label: str
    column: str
    match: dict[str, Any]
    values: dict[str, float | None]


@cache
def paper_tables() -> dict[str, dict[str, Any]]:
    """The raw tables of ``paper_reference.yaml`` by id (``table1`` ... ``table12``)."""
    return yaml.safe_load(resources.files("reports").joinpath(REFERENCE_FILE).read_text())


def paper_entries(table_id: str) -> list[PaperEntry]:
    """Every cell of paper table ``table_id``, row by row.

    Raises:
        ReportError: ``table_id`` is not in ``paper_reference.yaml``.
    """
    tables = paper_tables()
    if table_id not in tables:
        raise ReportError(f"unknown report.paper_table {table_id!r}; use one of: {', '.join(tables)}")
    table = tables[table_id]
    entries = []
    for row in table["rows"]:
        for header, cell in row["values"].items():
            match = {**row["match"], table["column_key"]: table["columns"][header]}
            values = {metric: _mean_of(value) for metric, value in zip(table["metrics"], cell, strict=True)}
            entries.append(PaperEntry(row["label"], header, match, values))
    return entries


def lookup_paper_values(
    table_id: str, cell_attrs: list[dict[str, Any]], metrics: list[str], epoch: str
) -> list[float]:
    """The paper's value (percent) for each (cell attributes, metric) pair; NaN where the paper has none."""
    entries = paper_entries(table_id)
    values = []
    for attrs, metric in zip(cell_attrs, metrics, strict=True):
        candidates = [{**attrs, EPOCH_ATTRIBUTE: epoch, DATASET_NAME: name} for name in dataset_names(attrs)]
        candidates = candidates or [{**attrs, EPOCH_ATTRIBUTE: epoch}]
        entry = next((e for c in candidates for e in entries if _matches(e.match, c)), None)
        value = entry.values.get(metric) if entry else None
        values.append(math.nan if value is None else float(value))
    return values


def _mean_of(value: float | list[float] | None) -> float | None:
    """A paper value: a number, or the mean of ``[mean, std]``; None when the paper gives none."""
    return value[0] if isinstance(value, list) else value


def _matches(match: dict[str, Any], attrs: dict[str, Any]) -> bool:
    return all(key in attrs and same_value(want, attrs[key]) for key, want in match.items())


def same_value(a: Any, b: Any) -> bool:
    """Numbers equal up to float tolerance; text equal ignoring case and punctuation."""
    number_a, number_b = _as_number(a), _as_number(b)
    if number_a is not None and number_b is not None:
        return math.isclose(number_a, number_b, rel_tol=1e-9, abs_tol=1e-12)
    return _normalise(a) == _normalise(b)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _normalise(value: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(value).lower())
