"""Paired significance tests of each arm against the baseline arm, over seeds, per method, dataset and grid point."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from reports.grouping import label
from reports.metrics import metric_label, to_display
from reports.render import TextTable
from reports.tables import Summary

MIN_PAIRS_T = 2
MIN_PAIRS_WILCOXON = 5
ALPHA = 0.05
COLUMNS = ["arm", "metric", "n", "mean_diff", "p_ttest", "p_wilcoxon"]


def paired_tests(finished: pd.DataFrame, summary: Summary, baseline_arm: str) -> pd.DataFrame:
    """One row per (cell keys without ``arm``, arm, metric): pairs ``n``, mean of arm - baseline and p-values.

    Trials pair by ``seed``. ``p_ttest`` is ``scipy.stats.ttest_rel`` (needs ``n >= 2``), ``p_wilcoxon`` is
    ``scipy.stats.wilcoxon`` (needs ``n >= 5``); NaN otherwise or when the differences are all zero.
    Differences are in display units (percent for fraction metrics). Empty when the arm is not a key.
    """
    keys = [k for k in [*summary.row_keys, *summary.column_keys] if k != "arm"]
    if "arm" not in summary.row_keys + summary.column_keys:
        return pd.DataFrame(columns=[*keys, *COLUMNS])
    records = []
    groups = finished.groupby(keys, dropna=False, sort=False) if keys else [((), finished)]
    for values, group in groups:
        point = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
        base = group[group["arm"] == baseline_arm].drop_duplicates("seed").set_index("seed")
        for arm, trials in group[group["arm"] != baseline_arm].groupby("arm", sort=False):
            trials = trials.drop_duplicates("seed").set_index("seed")
            for metric in summary.metrics:
                records.append({**point, "arm": arm, "metric": metric, **_paired(trials, base, metric)})
    return pd.DataFrame(records, columns=[*keys, *COLUMNS])


def significance_table(tests: pd.DataFrame, summary: Summary, baseline_arm: str) -> TextTable:
    """The companion table of ``paired_tests``: p-values below ``ALPHA`` in bold."""
    keys = [c for c in tests.columns if c not in COLUMNS]
    records = tests.to_dict("records")
    index = [(*(label(r[k]) for k in keys), str(r["arm"]), metric_label(r["metric"])) for r in records]
    cells = [[str(r["n"]), _number(r["mean_diff"]), _p(r["p_ttest"]), _p(r["p_wilcoxon"])] for r in records]
    bold = [[False, False, bool(r["p_ttest"] < ALPHA), bool(r["p_wilcoxon"] < ALPHA)] for r in records]
    return TextTable(
        title=f"{summary.sweep}: paired tests of each arm against {baseline_arm!r} over seeds",
        index_names=[*keys, "arm", "metric"],
        index=index,
        groups=[""],
        subcolumns=["n", "Δ mean", "p (paired t)", "p (Wilcoxon)"],
        cells=cells,
        bold=bold,
        notes=[
            f"Pairs are trials with the same seed; Δ mean = arm - {baseline_arm} (percent for fraction metrics). "
            f"Paired t-test when n >= {MIN_PAIRS_T}, Wilcoxon signed-rank when n >= {MIN_PAIRS_WILCOXON}, "
            f"else –; p < {ALPHA} in bold."
        ],
    )


def _paired(trials: pd.DataFrame, base: pd.DataFrame, metric: str) -> dict[str, float]:
    """n, mean difference and both p-values of ``metric`` over the seeds the two frames share."""
    if metric not in trials or metric not in base:
        return {"n": 0, "mean_diff": np.nan, "p_ttest": np.nan, "p_wilcoxon": np.nan}
    joined = pd.concat([trials[metric].rename("arm"), base[metric].rename("base")], axis=1, join="inner").dropna()
    arm = joined["arm"].map(lambda v: to_display(metric, v)).to_numpy(dtype=float)
    ref = joined["base"].map(lambda v: to_display(metric, v)).to_numpy(dtype=float)
    n = len(arm)
    return {
        "n": n,
        "mean_diff": float(np.mean(arm - ref)) if n else np.nan,
        "p_ttest": _pvalue(stats.ttest_rel, arm, ref) if n >= MIN_PAIRS_T else np.nan,
        "p_wilcoxon": _pvalue(stats.wilcoxon, arm, ref) if n >= MIN_PAIRS_WILCOXON else np.nan,
    }


def _pvalue(test: Callable[..., Any], a: np.ndarray, b: np.ndarray) -> float:
    """The test's p-value, NaN when the differences are degenerate (all zero)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return float(test(a, b).pvalue)
        except ValueError:
            return np.nan


def _number(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:+.2f}"


def _p(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3g}"
