"""Figures: one line (and band) per arm, labelled axes and a legend; only what the sweep's data supports."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.container import BarContainer

from reports.figures import (
    curves_figure,
    d2s_figure,
    density_figure,
    draw_figures,
    sensitivity_figure,
    tradeoff_figure,
    with_lines,
)
from reports.schema import ReportSpec
from reports.tables import summarize

ARMS = ["baseline", "+DACHI", "ours"]


@pytest.fixture(scope="module")
def cdc_cifar10(loaded):
    runs = loaded("ablation")
    panel = runs.finished[(runs.finished["method.name"] == "cdc") & (runs.finished["dataset.name"] == "cifar10")]
    order = {arm: i for i, arm in enumerate(ARMS)}
    return runs, with_lines(panel.sort_values("arm", key=lambda s: s.map(order), kind="stable"), ["arm"])


def _bands(axes) -> list[PolyCollection]:
    return [c for c in axes.collections if isinstance(c, PolyCollection)]


def test_curves_have_one_line_and_band_per_arm_on_each_axis(cdc_cifar10):
    runs, panel = cdc_cifar10
    figure = curves_figure(runs.histories, panel, "cdc / cifar10")
    assert len(figure.axes) == 3
    for axes in figure.axes:
        assert [line.get_label() for line in axes.get_lines()] == ARMS
        assert len(_bands(axes)) == len(ARMS)
        assert axes.get_xlabel() == "epoch" and axes.get_ylabel()
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ARMS


def test_curve_means_equal_the_per_epoch_mean_over_seeds(synthetic_store, cdc_cifar10):
    runs, panel = cdc_cifar10
    acc_axes = curves_figure(runs.histories, panel, "t").axes[0]
    ours = acc_axes.get_lines()[ARMS.index("ours")]
    histories = [t.history["acc"] for t in synthetic_store.ablation
                 if (t.params["method.name"], t.params["dataset.name"], t.arm) == ("cdc", "cifar10", "ours")
                 and not t.failed]
    np.testing.assert_allclose(ours.get_ydata(), 100 * np.mean(histories, axis=0))
    assert acc_axes.get_ylabel() == "ACC (%)"


def test_d2s_and_density_figures(cdc_cifar10):
    runs, panel = cdc_cifar10
    axes = d2s_figure(runs.histories, panel, "t").axes[0]
    assert [line.get_label() for line in axes.get_lines()] == ARMS and axes.get_legend() is not None
    figure = density_figure(panel, "t")
    axes = figure.axes[0]
    bars = [c for c in axes.containers if isinstance(c, BarContainer)]
    assert [b.get_label() for b in bars] == ARMS
    assert [t.get_text() for t in axes.get_xticklabels()] == ["high", "medium", "low"]
    assert axes.get_ylabel() == "ACC (%)" and axes.get_xlabel() and len(figure.legends) == 1
    heights = [bar.get_height() for bar in bars[ARMS.index("ours")]]
    ours = panel[panel["arm"] == "ours"]
    np.testing.assert_allclose(heights, 100 * ours[["acc_high", "acc_mid", "acc_low"]].mean().to_numpy())


def test_tradeoff_and_sensitivity_drawn_only_when_the_param_varies(loaded, cdc_cifar10):
    _, panel = cdc_cifar10
    assert tradeoff_figure(panel, ["arm"], "t") is None
    assert sensitivity_figure(panel, "init.alpha", ["arm"], "t") is None
    sweep = loaded("sensitivity").finished
    tradeoff = tradeoff_figure(sweep, ["init.alpha", "selection.epsilon"], "t").axes[0]
    assert len(tradeoff.get_lines()) >= 2 and tradeoff.get_legend() is not None
    assert tradeoff.get_xlabel().startswith("average pruned fraction") and tradeoff.get_ylabel() == "ACC (%)"
    alpha = sensitivity_figure(sweep, "init.alpha", ["selection.epsilon", "init.alpha"], "t").axes[0]
    assert [line.get_label() for line in alpha.get_lines()] == ["epsilon=0.05", "epsilon=0.1", "epsilon=0.2"]
    assert len(_bands(alpha)) == 3
    assert "alpha" in alpha.get_xlabel()


def test_draw_figures_writes_pngs_of_what_the_sweep_supports(loaded, tmp_path):
    runs = loaded("sensitivity")
    saved = draw_figures(runs, summarize(runs, ReportSpec()), tmp_path, "baseline")
    names = sorted(f.path.name for f in saved)
    assert names == sorted(["alpha_sensitivity.png", "curves_cdc-cifar10.png", "d2s_cdc-cifar10.png",
                            "density_cdc-cifar10.png", "epsilon_tradeoff.png"])
    for figure in saved:
        assert figure.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
