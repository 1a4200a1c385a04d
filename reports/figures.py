"""The paper's figures from a sweep's trials, drawn only where the sweep's data supports them.

Every ``*_figure`` function returns a matplotlib ``Figure`` (no pyplot, no global state) or None when its data is
missing, so that tests can inspect the axes before ``draw_figures`` saves them as PNG.

- ``curves_figure``: ACC, pruned fraction and epoch time over epochs per arm, mean ± std bands (Fig. 3, 4a).
- ``d2s_figure``: mean |D2 S| over epochs per arm (Fig. 5b).
- ``density_figure``: ACC in the high / medium / low density thirds per arm (Table 4).
- ``tradeoff_figure``: pruned fraction vs ACC over epsilon (Table 5).
- ``sensitivity_figure``: ACC against ``init.alpha`` or ``init.k`` (Fig. 4b, 4c).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from reports.grouping import arm_order, label, sort_key
from reports.metrics import metric_label, to_display
from reports.runs import SweepRuns
from reports.tables import Summary

BAND_ALPHA = 0.2
DENSITY_METRICS = ["acc_high", "acc_mid", "acc_low"]
SENSITIVITY_PARAMS = {"init.alpha": "alpha", "init.k": "k"}
EPSILON = "selection.epsilon"


@dataclass(frozen=True)
class SavedFigure:
    """A figure written by ``draw_figures``: what it shows and where the PNG is."""

    title: str
    path: Path


def curves_figure(histories: pd.DataFrame, trials: pd.DataFrame, title: str) -> Figure | None:
    """ACC, pruned fraction and epoch time (train + score) over epochs, one line and band per ``line`` of trials.

    ``trials`` needs ``run_id`` and ``line`` (the arm, or the arm with its grid point); see ``with_lines``.
    """
    history = _epoch_time(histories[histories["run_id"].isin(trials["run_id"])])
    panels = [m for m in ("acc", "pruned_frac", "epoch_time_s") if m in history and history[m].notna().any()]
    if not panels:
        return None
    figure = Figure(figsize=(4.5 * len(panels) + 2, 4), layout="constrained")
    all_axes = np.atleast_1d(figure.subplots(1, len(panels)))
    for axes, metric in zip(all_axes, panels, strict=True):
        _arm_bands(axes, history, trials, metric)
        axes.set_ylabel(_unit_label(metric))
    figure.legend(*all_axes[0].get_legend_handles_labels(), loc="outside right upper")
    figure.suptitle(title)
    return figure


def d2s_figure(histories: pd.DataFrame, trials: pd.DataFrame, title: str) -> Figure | None:
    """Mean |D2 S| over epochs, one line and band per ``line`` of trials that logged it."""
    history = histories[histories["run_id"].isin(trials["run_id"])]
    if "mean_abs_d2s" not in history or history["mean_abs_d2s"].notna().sum() == 0:
        return None
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    _arm_bands(axes, history, trials, "mean_abs_d2s")
    axes.legend()
    axes.set_ylabel("mean |D2 S| over all samples")
    axes.set_title(title)
    return figure


def density_figure(trials: pd.DataFrame, title: str) -> Figure | None:
    """ACC per density third (high, medium, low) as grouped bars, one bar series per ``line``, std error bars."""
    if not all(m in trials and trials[m].notna().any() for m in DENSITY_METRICS):
        return None
    lines = list(dict.fromkeys(trials["line"]))
    figure = Figure(figsize=(7.5, 4), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(lines)
    positions = np.arange(len(DENSITY_METRICS))
    for i, line_name in enumerate(lines):
        values = trials.loc[trials["line"] == line_name, DENSITY_METRICS] * 100.0
        errors = values.std(ddof=1).fillna(0)
        axes.bar(positions + i * width, values.mean(), width, yerr=errors, label=line_name, capsize=3, color=f"C{i}")
    axes.set_xticks(positions + width * (len(lines) - 1) / 2, ["high", "medium", "low"])
    axes.set_xlabel("density region (thirds of the k-NN distance ranking)")
    axes.set_ylabel("ACC (%)")
    axes.set_title(title)
    figure.legend(loc="outside right upper")
    return figure


def tradeoff_figure(trials: pd.DataFrame, series_keys: list[str], title: str) -> Figure | None:
    """Average pruned fraction vs ACC, one line per series through its epsilon values (annotated)."""
    needed = {EPSILON, "acc", "mean_pruned_frac"}
    if not needed <= set(trials.columns) or trials[EPSILON].nunique() < 2:
        return None
    figure = Figure(figsize=(6, 4.5), layout="constrained")
    axes = figure.subplots()
    for name, series in _series(trials, [k for k in series_keys if k != EPSILON]):
        stats = _mean_std(series, EPSILON, ["mean_pruned_frac", "acc"])
        axes.errorbar(
            stats["mean_pruned_frac_mean"], stats["acc_mean"], xerr=stats["mean_pruned_frac_std"],
            yerr=stats["acc_std"], marker="o", capsize=3, label=name,
        )
        for eps, x, y in zip(stats.index, stats["mean_pruned_frac_mean"], stats["acc_mean"], strict=True):
            axes.annotate(f"ε={label(eps)}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xlabel("average pruned fraction per epoch (%)")
    axes.set_ylabel("ACC (%)")
    axes.set_title(title)
    axes.legend()
    return figure


def sensitivity_figure(trials: pd.DataFrame, param: str, series_keys: list[str], title: str) -> Figure | None:
    """ACC against ``param`` (e.g. ``init.alpha``), one line with a ± std band per series."""
    if param not in trials or "acc" not in trials or trials[param].nunique() < 2:
        return None
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    for name, series in _series(trials, [k for k in series_keys if k != param]):
        stats = _mean_std(series, param, ["acc"])
        x = stats.index.to_numpy(dtype=float)
        (line,) = axes.plot(x, stats["acc_mean"], marker="o", label=name)
        band = stats["acc_std"].fillna(0)
        low, high = stats["acc_mean"] - band, stats["acc_mean"] + band
        axes.fill_between(x, low, high, alpha=BAND_ALPHA, color=line.get_color())
    axes.set_xlabel(f"{SENSITIVITY_PARAMS.get(param, param)} ({param})")
    axes.set_ylabel("ACC (%)")
    axes.set_title(title)
    axes.legend()
    return figure


def draw_figures(runs: SweepRuns, summary: Summary, out_dir: Path, baseline_arm: str) -> list[SavedFigure]:
    """Draw every figure the sweep supports into ``out_dir`` as PNG; one set of per-epoch plots per panel.

    A panel is one value of the report's keys other than ``arm`` and the grid dimensions (e.g. one method on
    one dataset); inside it, each arm (with its grid point, if any) is one line. Arms come in report order.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    arms = arm_order(runs, baseline_arm)
    finished = runs.finished.sort_values("arm", key=lambda s: sort_key(s, arms), kind="stable")
    finished = with_lines(finished, ["arm", *summary.split_keys])
    keys = [k for k in [*summary.row_keys, *summary.column_keys] if k != "arm"]
    panel_keys = [k for k in keys if k not in summary.split_keys]
    figures: list[tuple[str, str, Figure | None]] = []
    for name, panel in _series(finished, panel_keys):
        suffix = f" — {name}" if panel_keys else ""
        figures += [
            (f"curves{_slug(name)}", f"Per-epoch curves{suffix}", curves_figure(runs.histories, panel, name)),
            (f"d2s{_slug(name)}", f"Mean |D2 S| over epochs{suffix}", d2s_figure(runs.histories, panel, name)),
            (f"density{_slug(name)}", f"ACC by density region{suffix}", density_figure(panel, name)),
        ]
    series_keys = ["arm", *keys]
    tradeoff = tradeoff_figure(finished, series_keys, "epsilon trade-off")
    figures.append(("epsilon_tradeoff", "Epsilon trade-off", tradeoff))
    for param, short in SENSITIVITY_PARAMS.items():
        title = f"{short} sensitivity"
        sensitivity = sensitivity_figure(finished, param, series_keys, title)
        figures.append((f"{short}_sensitivity", title.capitalize(), sensitivity))
    saved = []
    for stem, title, figure in figures:
        if figure is not None:
            path = out_dir / f"{stem}.png"
            figure.savefig(path, dpi=120)
            saved.append(SavedFigure(title, path))
    return saved


def with_lines(trials: pd.DataFrame, line_keys: list[str]) -> pd.DataFrame:
    """``trials`` with a ``line`` column naming the per-epoch curve each trial belongs to (e.g. its arm)."""
    names = pd.Series("", index=trials.index, dtype=object)
    for name, part in _series(trials, line_keys):
        names[part.index] = name
    return trials.assign(line=names)


def _arm_bands(axes: Axes, history: pd.DataFrame, trials: pd.DataFrame, metric: str) -> None:
    """One labelled mean line and ± std band per ``line`` of ``metric`` over epochs, in display units.

    A line keeps its colour across figures (its position among the panel's lines), even where others are absent.
    """
    line_of = trials.set_index("run_id")["line"]
    values = history.assign(line=history["run_id"].map(line_of)).dropna(subset=[metric])
    for colour, line_name in enumerate(dict.fromkeys(trials["line"])):
        per_epoch = values[values["line"] == line_name].groupby("epoch")[metric]
        if per_epoch.ngroups == 0:
            continue
        mean = per_epoch.mean().map(lambda v: to_display(metric, v))
        std = per_epoch.std(ddof=1).fillna(0).map(lambda v: to_display(metric, v))
        axes.plot(mean.index, mean, label=line_name, color=f"C{colour}")
        axes.fill_between(mean.index, mean - std, mean + std, alpha=BAND_ALPHA, color=f"C{colour}")
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def _epoch_time(history: pd.DataFrame) -> pd.DataFrame:
    """``history`` with ``epoch_time_s`` = training + scoring time (evaluation excluded), where logged."""
    parts = [c for c in ("train_time_s", "score_time_s") if c in history]
    if not parts:
        return history
    return history.assign(epoch_time_s=history[parts].sum(axis=1, min_count=1))


def _unit_label(metric: str) -> str:
    if metric == "epoch_time_s":
        return "epoch time, train + score (s)"
    return f"{metric_label(metric)} (%)" if to_display(metric, 1.0) == 100.0 else metric_label(metric)


def _series(trials: pd.DataFrame, keys: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """Split ``trials`` by ``keys``; each part is named by the key values that differ between parts."""
    if not keys:
        return [("", trials)]
    varying = [k for k in keys if trials[k].nunique(dropna=False) > 1]
    parts = []
    for values, part in trials.groupby(keys, dropna=False, sort=True):
        named = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
        shown = varying or keys
        parts.append((" / ".join(_describe(k, named[k]) for k in shown), part))
    return parts


def _describe(key: str, value: object) -> str:
    """``arm`` and names as their value, numeric params as ``key=value``."""
    return label(value) if isinstance(value, str) else f"{key.split('.')[-1]}={label(value)}"


def _mean_std(trials: pd.DataFrame, by: str, metrics: list[str]) -> pd.DataFrame:
    """Mean and std (ddof=1) over seeds of each metric in display units, indexed by ``by`` (sorted)."""
    shown = trials[[by, *metrics]].copy()
    for metric in metrics:
        shown[metric] = shown[metric].map(lambda v, m=metric: to_display(m, v))
    grouped = shown.groupby(by).agg(["mean", "std"]).sort_index()
    grouped.columns = [f"{metric}_{stat}" for metric, stat in grouped.columns]
    return grouped


def _slug(name: str) -> str:
    return f"_{re.sub(r'[^A-Za-z0-9.+-]+', '-', name).strip('-')}" if name else ""
