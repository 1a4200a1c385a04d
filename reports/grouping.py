"""How trials are grouped into table cells: the spec's rows and columns, plus any dimension hidden inside a cell."""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports.errors import ReportError
from reports.runs import SweepRuns

_PER_TRIAL_PARAMS = ("seed",)
"""Params containing these words differ between the trials of one cell by design and never split it."""


def hidden_dimensions(runs: SweepRuns, keys: list[str]) -> list[str]:
    """Attributes that vary inside the cells formed by ``keys`` (``arm`` first, then params in logged order).

    A sweep with a grid over ``selection.epsilon`` reported with rows ``[method.name, arm]`` would otherwise
    average different epsilons into one cell; such keys are returned so that the caller splits the rows by them.
    A param that only varies because ``arm`` does (``init.strategy``) is not returned once ``arm`` is a key.
    """
    candidates = ["arm", *runs.param_columns]
    chosen: list[str] = []
    for candidate in candidates:
        if candidate in keys or candidate in chosen or any(word in candidate for word in _PER_TRIAL_PARAMS):
            continue
        group_keys = [*keys, *chosen]
        if group_keys:
            varies = runs.trials.groupby(group_keys, dropna=False)[candidate].nunique(dropna=False).gt(1).any()
        else:
            varies = runs.trials[candidate].nunique(dropna=False) > 1
        if varies:
            chosen.append(candidate)
    return chosen


def require_columns(runs: SweepRuns, keys: list[str]) -> None:
    """Raise if a row or column key of the report spec is not an attribute of the sweep's trials.

    Raises:
        ReportError: naming the unknown key and the attributes that exist.
    """
    known = ["arm", "seed", *runs.param_columns]
    for key in keys:
        if key not in runs.trials.columns:
            raise ReportError(
                f"report key {key!r} is not a param or tag of sweep {runs.sweep!r}; use one of: {', '.join(known)}"
            )


def label(value: Any) -> str:
    """A group value as shown in tables: ``0.1`` stays ``0.1``, ``2.0`` becomes ``2``, missing becomes ``–``."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
