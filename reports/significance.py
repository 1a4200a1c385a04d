"""Paired significance tests of each arm against the baseline arm, over seeds, per method, dataset and grid point."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from reports.metrics import metric_label, to_display
from reports.names import key_label
from reports.render import TextTable
from reports.tables import Summary, in_report_order, shown

MIN_PAIRS_T = 3
MIN_PAIRS_WILCOXON = 6
"""The smallest n at which the exact two-sided Wilcoxon signed-rank test can reach p < 0.05 (2 / 2^6)."""
ALPHA = 0.05
CONFIDENCE = 0.95
COLUMNS = [
    "arm", "metric", "n", "mean_diff", "ci_low", "ci_high", "p_ttest", "p_ttest_holm", "p_wilcoxon", "p_wilcoxon_holm"
]


def paired_tests(finished: pd.DataFrame, summary: Summary, baseline_arm: str) -> pd.DataFrame:
    """One row per (cell keys without ``arm``, arm, metric): pairs ``n``, the mean of arm - baseline with its 95%
    t-interval, and p-values raw and Holm-adjusted across the table.

    Trials pair by ``seed``. ``p_ttest`` is ``scipy.stats.ttest_rel`` (needs ``n >= 3``), ``p_wilcoxon`` is
    ``scipy.stats.wilcoxon`` (needs ``n >= 6``); NaN otherwise or when the differences are all zero. The
    ``*_holm`` columns apply ``holm`` over all the table's tests of that kind. Differences are in display units
    (percent for fraction metrics). Rows in the report's order. Empty when the arm is not a key.
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
    tests = pd.DataFrame(records, columns=[*keys, *COLUMNS])
    tests["p_ttest_holm"] = holm(tests["p_ttest"])
    tests["p_wilcoxon_holm"] = holm(tests["p_wilcoxon"])
    return in_report_order(tests, summary, [*keys, "arm"])


def holm(p_values: pd.Series) -> pd.Series:
    """Holm's step-down adjustment of a family of p-values; NaN entries are not tests and stay NaN.

    With the m present p-values sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))``.
    """
    present = p_values.dropna().sort_values(kind="stable")
    m = len(present)
    scaled = (present * np.arange(m, 0, -1)).clip(upper=1.0).cummax()
    return pd.Series(scaled, index=present.index).reindex(p_values.index).astype(float)


def significance_table(tests: pd.DataFrame, summary: Summary, baseline_arm: str) -> TextTable:
    """The companion table of ``paired_tests``: Holm-adjusted p-values below ``ALPHA`` in bold."""
    keys = [c for c in tests.columns if c not in COLUMNS]
    records = tests.to_dict("records")
    index = [(*shown(summary, keys, tuple(r[k] for k in keys)), str(r["arm"]), metric_label(r["metric"]))
             for r in records]
    cells = [
        [str(r["n"]), _effect(r), _p(r["p_ttest"]), _p(r["p_ttest_holm"]), _p(r["p_wilcoxon"]),
         _p(r["p_wilcoxon_holm"])]
        for r in records
    ]
    bold = [[False, False, False, bool(r["p_ttest_holm"] < ALPHA), False, bool(r["p_wilcoxon_holm"] < ALPHA)]
            for r in records]
    n_t, n_w = int(tests["p_ttest"].notna().sum()), int(tests["p_wilcoxon"].notna().sum())
    return TextTable(
        title=f"{summary.sweep}: paired tests of each arm against “{baseline_arm}” over seeds, Holm-corrected",
        label=f"{summary.sweep}-significance",
        index_names=[*(key_label(k) for k in keys), "Arm", "Metric"],
        index=index,
        groups=[""],
        subcolumns=["n", f"Δ mean [{CONFIDENCE:.0%} CI]", "p (t)", "p (t, Holm)", "p (W)", "p (W, Holm)"],
        cells=cells,
        bold=bold,
        notes=[
            f"Pairs are trials with the same seed; Δ mean = arm - {baseline_arm} (percent points for fraction "
            f"metrics) with its {CONFIDENCE:.0%} t-interval. Paired t-test when n ≥ {MIN_PAIRS_T}, Wilcoxon "
            f"signed-rank when n ≥ {MIN_PAIRS_WILCOXON}, else –. Holm's correction runs over all {n_t} t-tests "
            + (f"and, separately, all {n_w} Wilcoxon tests " if n_w else "")
            + f"of this table; adjusted p < {ALPHA} in bold."
        ],
    )


def _paired(trials: pd.DataFrame, base: pd.DataFrame, metric: str) -> dict[str, float]:
    """n, mean difference with its t-interval and both p-values of ``metric`` over the seeds both frames share."""
    if metric not in trials or metric not in base:
        return {"n": 0, "mean_diff": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_ttest": np.nan,
                "p_wilcoxon": np.nan}
    joined = pd.concat([trials[metric].rename("arm"), base[metric].rename("base")], axis=1, join="inner").dropna()
    arm = joined["arm"].map(lambda v: to_display(metric, v)).to_numpy(dtype=float)
    ref = joined["base"].map(lambda v: to_display(metric, v)).to_numpy(dtype=float)
    n = len(arm)
    low, high = _t_interval(arm - ref) if n >= MIN_PAIRS_T else (np.nan, np.nan)
    return {
        "n": n,
        "mean_diff": float(np.mean(arm - ref)) if n else np.nan,
        "ci_low": low,
        "ci_high": high,
        "p_ttest": _pvalue(stats.ttest_rel, arm, ref) if n >= MIN_PAIRS_T else np.nan,
        "p_wilcoxon": _pvalue(stats.wilcoxon, arm, ref) if n >= MIN_PAIRS_WILCOXON else np.nan,
    }


def _t_interval(differences: np.ndarray) -> tuple[float, float]:
    """The ``CONFIDENCE`` t-interval of the mean of ``differences``: mean ± t_{n-1} · sd / √n."""
    n = len(differences)
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * differences.std(ddof=1) / np.sqrt(n)
    mean = float(differences.mean())
    return mean - half, mean + half


def _pvalue(test: Callable[..., Any], a: np.ndarray, b: np.ndarray) -> float:
    """The test's p-value, NaN when the differences are degenerate (all zero)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return float(test(a, b).pvalue)
        except ValueError:
            return np.nan


def _effect(record: dict[str, Any]) -> str:
    """``+1.23 [+0.10, +2.36]``; the interval only where the test ran."""
    if pd.isna(record["mean_diff"]):
        return "–"
    interval = "" if pd.isna(record["ci_low"]) else f" [{record['ci_low']:+.2f}, {record['ci_high']:+.2f}]"
    return f"{record['mean_diff']:+.2f}{interval}"


def _p(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.3g}"
