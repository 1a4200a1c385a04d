"""The paper's figures from a sweep's trials, drawn only where the sweep's data supports them.

Every ``*_figure`` function returns a matplotlib ``Figure`` (no pyplot, no global state) or None when its data is
missing, so that tests can inspect the axes before ``draw_figures`` saves them as PDF and PNG, one paper column
wide. Every line differs from its neighbours in colour, dash and marker; titles name the panel and the seeds.

- ``curves_figure``: ACC, pruned and re-inclusion fractions and epoch time over epochs per arm, mean ± std bands
  (Fig. 3, 4a).
- ``d2s_figure``: mean |D2 S| over epochs per arm (Fig. 5b).
- ``density_figure``: ACC in the high / medium / low density thirds per arm (Table 4).
- ``tradeoff_figure``: pruned fraction vs ACC over epsilon (Table 5).
- ``sensitivity_figure``: ACC against ``init.alpha`` or ``init.k`` (Fig. 4b, 4c).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from reports.grouping import label
from reports.metrics import FRACTION_METRICS, metric_label, to_display
from reports.names import key_label, value_labels, value_order
from reports.runs import SweepRuns
from reports.tables import Summary

BAND_ALPHA = 0.2
COLUMN_WIDTH = 3.4
"""Inches: one column of a two-column paper."""
PANEL_HEIGHT = 1.15
PAPER_STYLE = {"font.size": 7, "axes.titlesize": 7, "legend.fontsize": 6, "lines.linewidth": 1.2,
               "lines.markersize": 3.5, "savefig.bbox": "tight", "pdf.fonttype": 42}
LINE_STYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
HATCHES = ["", "//", "..", "xx", "\\\\", "++"]
MARKS_PER_LINE = 6
DENSITY_METRICS = ["acc_high", "acc_mid", "acc_low"]
CURVE_METRICS = ["acc", "pruned_frac", "reinclusion_frac", "epoch_time_s"]
SENSITIVITY_PARAMS = ["init.alpha", "init.k"]
EPSILON = "selection.epsilon"
FORMATS = ("pdf", "png")
PNG_DPI = 300


@dataclass(frozen=True)
class SavedFigure:
    """A figure written by ``draw_figures``: what it shows, its PNG (for Markdown) and its PDF (for LaTeX)."""

    title: str
    path: Path
    pdf: Path


def paper_style(draw: Callable[..., Figure | None]) -> Callable[..., Figure | None]:
    """Draw inside ``PAPER_STYLE`` (fonts and lines sized for a figure one paper column wide)."""

    @wraps(draw)
    def styled(*args: Any, **kwargs: Any) -> Figure | None:
        with mpl.rc_context(PAPER_STYLE):
            return draw(*args, **kwargs)

    return styled


def seeds_caption(trials: pd.DataFrame) -> str:
    """``mean ± std over 3 seeds`` (or ``over 2-3 seeds`` when lines differ) for the lines of ``trials``."""
    counts = trials.groupby("line", sort=False).size()
    low, high = int(counts.min()), int(counts.max())
    return f"mean ± std over {low} seed{'s' * (high > 1)}" if low == high else f"mean ± std over {low}-{high} seeds"


@paper_style
def curves_figure(histories: pd.DataFrame, trials: pd.DataFrame, title: str) -> Figure | None:
    """ACC, pruned fraction, re-inclusion fraction and epoch time (train + score) over epochs, stacked; one
    styled line with a ± std band per ``line`` of trials. Panels that are empty or all zero are left out.

    ``trials`` needs ``run_id``, ``line`` (the arm, or the arm with its grid point) and ``line_style``; see
    ``with_lines``.
    """
    history = _epoch_time(histories[histories["run_id"].isin(trials["run_id"])])
    panels = [m for m in CURVE_METRICS if _has_signal(history, m)]
    if not panels:
        return None
    figure = Figure(figsize=(COLUMN_WIDTH, PANEL_HEIGHT * len(panels) + 0.8), layout="constrained")
    all_axes = np.atleast_1d(figure.subplots(len(panels), 1, sharex=True))
    for axes, metric in zip(all_axes, panels, strict=True):
        _arm_bands(axes, history, trials, metric)
        axes.set_ylabel(_unit_label(metric))
    for axes in all_axes[:-1]:
        axes.set_xlabel("")
    _legend_below(figure, all_axes[0])
    figure.suptitle(f"{title}\n{seeds_caption(trials)}" if title else seeds_caption(trials))
    return figure


@paper_style
def d2s_figure(histories: pd.DataFrame, trials: pd.DataFrame, title: str) -> Figure | None:
    """Mean |D2 S| over epochs, one styled line and band per ``line`` of trials that logged it (not all zero)."""
    history = histories[histories["run_id"].isin(trials["run_id"])]
    if not _has_signal(history, "mean_abs_d2s"):
        return None
    figure = Figure(figsize=(COLUMN_WIDTH, 2.4), layout="constrained")
    axes = figure.subplots()
    _arm_bands(axes, history, trials, "mean_abs_d2s")
    axes.legend()
    axes.set_ylabel("mean |D2 S| over all samples")
    axes.set_title(f"{title}\n{seeds_caption(trials)}" if title else seeds_caption(trials))
    return figure


@paper_style
def density_figure(trials: pd.DataFrame, title: str) -> Figure | None:
    """ACC per density third (high, medium, low) as grouped, hatched bars, one series per ``line`` in its
    ``line_style``, ± std bars."""
    if not all(m in trials and trials[m].notna().any() for m in DENSITY_METRICS):
        return None
    styles = _line_styles(trials)
    figure = Figure(figsize=(COLUMN_WIDTH, 2.4), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(styles)
    positions = np.arange(len(DENSITY_METRICS))
    for offset, (line_name, style) in enumerate(styles.items()):
        values = trials.loc[trials["line"] == line_name, DENSITY_METRICS] * 100.0
        errors = values.std(ddof=1).fillna(0)
        axes.bar(positions + offset * width, values.mean(), width, yerr=errors, label=line_name, capsize=2,
                 color=f"C{style}", hatch=HATCHES[style % len(HATCHES)], edgecolor="black", linewidth=0.4)
    axes.set_xticks(positions + width * (len(styles) - 1) / 2, ["high", "medium", "low"])
    axes.set_xlabel("density region (thirds of the k-NN distance ranking)")
    axes.set_ylabel("ACC (%)")
    axes.set_title(f"{title}\n{seeds_caption(trials)}" if title else seeds_caption(trials))
    _legend_below(figure, axes)
    return figure


@paper_style
def tradeoff_figure(trials: pd.DataFrame, series_keys: list[str], title: str) -> Figure | None:
    """Average pruned fraction vs ACC, one styled line per series through its epsilon values (annotated)."""
    needed = {EPSILON, "acc", "mean_pruned_frac"}
    if not needed <= set(trials.columns) or trials[EPSILON].nunique() < 2:
        return None
    figure = Figure(figsize=(COLUMN_WIDTH, 2.6), layout="constrained")
    axes = figure.subplots()
    for i, (name, series) in enumerate(_series(trials, [k for k in series_keys if k != EPSILON])):
        stats = _mean_std(series, EPSILON, ["mean_pruned_frac", "acc"])
        axes.errorbar(
            stats["mean_pruned_frac_mean"], stats["acc_mean"], xerr=stats["mean_pruned_frac_std"],
            yerr=stats["acc_std"], capsize=2, label=name, **_style(i),
        )
        for eps, x, y in zip(stats.index, stats["mean_pruned_frac_mean"], stats["acc_mean"], strict=True):
            axes.annotate(f"ε={label(eps)}", (x, y), textcoords="offset points", xytext=(3, 3), fontsize=5)
    axes.set_xlabel("average pruned fraction per epoch (%)")
    axes.set_ylabel("ACC (%)")
    axes.set_title(f"{title}\nmean ± std over seeds")
    axes.legend()
    return figure


@paper_style
def sensitivity_figure(trials: pd.DataFrame, param: str, series_keys: list[str], title: str) -> Figure | None:
    """ACC against ``param`` (e.g. ``init.alpha``), one styled line with a ± std band per series."""
    if param not in trials or "acc" not in trials or trials[param].nunique() < 2:
        return None
    figure = Figure(figsize=(COLUMN_WIDTH, 2.4), layout="constrained")
    axes = figure.subplots()
    for i, (name, series) in enumerate(_series(trials, [k for k in series_keys if k != param])):
        stats = _mean_std(series, param, ["acc"])
        x = stats.index.to_numpy(dtype=float)
        axes.plot(x, stats["acc_mean"], label=name, **_style(i))
        band = stats["acc_std"].fillna(0)
        axes.fill_between(x, stats["acc_mean"] - band, stats["acc_mean"] + band, alpha=BAND_ALPHA, color=f"C{i}")
    axes.set_xlabel(f"{key_label(param)} ({param})")
    axes.set_ylabel("ACC (%)")
    axes.set_title(f"{title}\nmean ± std over seeds")
    axes.legend()
    return figure


def draw_figures(runs: SweepRuns, summary: Summary, out_dir: Path, baseline_arm: str) -> list[SavedFigure]:
    """Draw every figure the sweep supports into ``out_dir`` as PDF and PNG; one set of per-epoch plots per panel.

    A panel is one value of the report's keys other than ``arm`` and the grid dimensions (e.g. one method on
    one dataset); inside it, each arm (with its grid point, if any) is one line. Arms come in the spec's order.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = [k for k in [*summary.row_keys, *summary.column_keys] if k != "arm"]
    panel_keys = [k for k in keys if k not in summary.split_keys]
    order = [*panel_keys, "arm"]
    ranks = {k: {v: i for i, v in enumerate(value_order(runs.spec, k, runs.finished[k]))} for k in order}
    finished = runs.finished.sort_values(order, key=lambda s: s.map(ranks[s.name]), kind="stable")
    finished = with_lines(finished, ["arm", *summary.split_keys])
    figures: list[tuple[str, str, Figure | None]] = []
    for name, panel in _series(finished, panel_keys, joiner=" on "):
        suffix = f" — {name}" if panel_keys else ""
        figures += [
            (f"curves{_slug(name)}", f"Per-epoch curves{suffix}", curves_figure(runs.histories, panel, name)),
            (f"d2s{_slug(name)}", f"Mean |D2 S| over epochs{suffix}", d2s_figure(runs.histories, panel, name)),
            (f"density{_slug(name)}", f"ACC by density region{suffix}", density_figure(panel, name)),
        ]
    series_keys = ["arm", *keys]
    figures.append(("epsilon_tradeoff", "Epsilon trade-off", tradeoff_figure(finished, series_keys, "ε trade-off")))
    for param in SENSITIVITY_PARAMS:
        short = param.rsplit(".", 1)[-1]
        title = f"{key_label(param)} sensitivity"
        figures.append((f"{short}_sensitivity", f"{short} sensitivity".capitalize(),
                        sensitivity_figure(finished, param, series_keys, title)))
    saved = []
    for stem, title, figure in figures:
        if figure is not None:
            pdf, png = (out_dir / f"{stem}.{extension}" for extension in FORMATS)
            figure.savefig(pdf)
            figure.savefig(png, dpi=PNG_DPI)
            saved.append(SavedFigure(title, png, pdf))
    return saved


def with_lines(trials: pd.DataFrame, line_keys: list[str]) -> pd.DataFrame:
    """``trials`` with a ``line`` column naming the per-epoch curve each trial belongs to (e.g. its arm), and a
    ``line_style`` column: the line's rank in order of first appearance among all ``trials``, so that a line keeps
    its colour, dash and marker in every figure, including panels where other lines are absent."""
    names = pd.Series("", index=trials.index, dtype=object)
    for name, part in _series(trials, line_keys):
        names[part.index] = name
    ranks = {name: rank for rank, name in enumerate(dict.fromkeys(names))}
    return trials.assign(line=names, line_style=names.map(ranks))


def _line_styles(trials: pd.DataFrame) -> pd.Series:
    """Each ``line`` of ``trials`` (in order of first appearance) -> its ``line_style`` from ``with_lines``."""
    return trials.drop_duplicates("line").set_index("line")["line_style"]


def _style(i: int) -> dict[str, Any]:
    """Colour, dash pattern and hollow marker of the ``i``-th line: all three differ between neighbours, so lines
    that coincide stay distinguishable (one marker shape shows through the other)."""
    return {"color": f"C{i}", "linestyle": LINE_STYLES[i % len(LINE_STYLES)], "marker": MARKERS[i % len(MARKERS)],
            "markerfacecolor": "none"}


def _has_signal(history: pd.DataFrame, metric: str) -> bool:
    """Whether ``metric`` was logged with at least one non-zero value."""
    return metric in history and bool((history[metric].dropna() != 0).any())


def _legend_below(figure: Figure, axes: Axes) -> None:
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), frameon=False)


def _arm_bands(axes: Axes, history: pd.DataFrame, trials: pd.DataFrame, metric: str) -> None:
    """One styled mean line and ± std band per ``line`` of ``metric`` over epochs, in display units.

    A line keeps its style across figures (its ``line_style`` from ``with_lines``), even where others are absent;
    markers are staggered between lines so that coinciding lines show each other's marks.
    """
    line_of = trials.set_index("run_id")["line"]
    values = history.assign(line=history["run_id"].map(line_of)).dropna(subset=[metric])
    for line_name, i in _line_styles(trials).items():
        per_epoch = values[values["line"] == line_name].groupby("epoch")[metric]
        if per_epoch.ngroups == 0:
            continue
        mean = per_epoch.mean().map(lambda v: to_display(metric, v))
        std = per_epoch.std(ddof=1).fillna(0).map(lambda v: to_display(metric, v))
        every = max(1, len(mean) // MARKS_PER_LINE)
        axes.plot(mean.index, mean, label=line_name, markevery=(i % every, every), **_style(i))
        low, high = mean - std, mean + std
        if metric in FRACTION_METRICS:  # a share's band stays within 0-100%
            low, high = low.clip(lower=0.0), high.clip(upper=100.0)
        axes.fill_between(mean.index, low, high, alpha=BAND_ALPHA, color=f"C{i}", linewidth=0)
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
        return "epoch time (s)"
    return f"{metric_label(metric)} (%)" if to_display(metric, 1.0) == 100.0 else metric_label(metric)


def _series(trials: pd.DataFrame, keys: list[str], joiner: str = " / ") -> list[tuple[str, pd.DataFrame]]:
    """Split ``trials`` by ``keys``; each part is named by the display names of the key values that differ
    between parts (all keys when none differs)."""
    if not keys:
        return [("", trials)]
    varying = [k for k in keys if trials[k].nunique(dropna=False) > 1]
    names = {k: value_labels(k, trials[k]) for k in keys}
    parts = []
    for values, part in trials.groupby(keys, dropna=False, sort=False):
        named = dict(zip(keys, values if isinstance(values, tuple) else (values,), strict=True))
        parts.append((joiner.join(_describe(k, named[k], names[k]) for k in varying or keys), part))
    return parts


def _describe(key: str, value: object, names: dict[Any, str]) -> str:
    """Names as their display name (``SCAN``), numeric params as ``label=value`` (``ε=0.1``)."""
    return names.get(value, label(value)) if isinstance(value, str) else f"{key_label(key)}={label(value)}"


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
