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

ARMS = ["baseline", "ours", "+DACHI"]


@pytest.fixture(scope="module")
def cdc_cifar10(loaded):
    runs = loaded("ablation")
    panel = runs.finished[(runs.finished["method.name"] == "cdc") & (runs.finished["dataset.name"] == "cifar10")]
    order = {arm: i for i, arm in enumerate(ARMS)}
    return runs, with_lines(panel.sort_values("arm", key=lambda s: s.map(order), kind="stable"), ["arm"])


def _bands(axes) -> list[PolyCollection]:
    return [c for c in axes.collections if isinstance(c, PolyCollection)]


def test_curves_have_one_styled_line_and_band_per_arm_on_each_axis(cdc_cifar10):
    runs, panel = cdc_cifar10
    figure = curves_figure(runs.histories, panel, "CDC on CIFAR-10")
    assert [axes.get_ylabel() for axes in figure.axes] == ["ACC (%)", "pruned (%)", "re-included (%)",
                                                           "epoch time (s)"]
    for axes in figure.axes:
        lines = axes.get_lines()
        assert [line.get_label() for line in lines] == ARMS
        assert len(_bands(axes)) == len(ARMS)
        for attribute in ("get_color", "get_linestyle", "get_marker"):  # identical curves stay visible
            assert len({getattr(line, attribute)() for line in lines}) == len(ARMS)
    assert figure.axes[-1].get_xlabel() == "epoch"
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ARMS
    assert figure.get_suptitle() == "CDC on CIFAR-10\nmean ± std over 4-5 seeds"
    assert figure.get_figwidth() == pytest.approx(3.4)


def test_all_zero_and_unlogged_panels_are_left_out(loaded):
    runs = loaded("convergence")
    panel = with_lines(runs.finished, ["arm"])
    assert (runs.histories["pruned_frac"] == 0).all()
    figure = curves_figure(runs.histories, panel, "SCAN on Digits")
    assert [axes.get_ylabel() for axes in figure.axes] == ["ACC (%)"]
    assert "mean ± std over 3 seeds" in figure.get_suptitle()
    assert d2s_figure(runs.histories, panel, "t") is None


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
    assert [line.get_label() for line in alpha.get_lines()] == ["ε=0.05", "ε=0.1", "ε=0.2"]
    assert len(_bands(alpha)) == 3
    assert "alpha" in alpha.get_xlabel()


def test_draw_figures_writes_pdf_and_png_one_column_wide(loaded, tmp_path):
    runs = loaded("sensitivity")
    saved = draw_figures(runs, summarize(runs, ReportSpec()), tmp_path, "baseline")
    names = sorted(f.path.name for f in saved)
    assert names == sorted(["alpha_sensitivity.png", "curves_CDC-on-CIFAR-10.png", "d2s_CDC-on-CIFAR-10.png",
                            "density_CDC-on-CIFAR-10.png", "epsilon_tradeoff.png"])
    for figure in saved:
        assert figure.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert figure.pdf.read_bytes()[:5] == b"%PDF-" and figure.pdf.stem == figure.path.stem
        width_px = int.from_bytes(figure.path.read_bytes()[16:20], "big")
        assert 3.0 <= width_px / 300 <= 3.5  # inches at 300 dpi, after the tight bounding box


def test_a_share_band_stays_within_0_and_100_percent(cdc_cifar10):
    runs, panel = cdc_cifar10
    histories = runs.histories.copy()
    ours = histories["run_id"].isin(panel.loc[panel["arm"] == "ours", "run_id"])
    seed_of = {run_id: i for i, run_id in enumerate(histories.loc[ours, "run_id"].unique())}
    histories.loc[ours, "pruned_frac"] = histories.loc[ours, "run_id"].map(seed_of) % 2  # 0 and 1 over seeds
    pruned_axes = next(a for a in curves_figure(histories, panel, "t").axes if a.get_ylabel() == "pruned (%)")
    band = _bands(pruned_axes)[ARMS.index("ours")].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(0.0) and band.max() == pytest.approx(100.0)


def test_an_arm_keeps_its_style_in_a_panel_where_an_earlier_arm_is_absent(cdc_cifar10):
    runs, trials = cdc_cifar10
    without_baseline = trials[trials["arm"] != "baseline"]  # as CDC's quickstart panel lacks the prototype arm
    full = {line.get_label(): line for line in curves_figure(runs.histories, trials, "t").axes[0].get_lines()}
    for line in curves_figure(runs.histories, without_baseline, "t").axes[0].get_lines():
        for attribute in ("get_color", "get_linestyle", "get_marker"):
            assert getattr(line, attribute)() == getattr(full[line.get_label()], attribute)()

    def bar_groups(panel):
        return [c for c in density_figure(panel, "t").axes[0].containers if isinstance(c, BarContainer)]

    bars = {c.get_label(): c.patches[0] for c in bar_groups(trials)}
    for container in bar_groups(without_baseline):
        patch, reference = container.patches[0], bars[container.get_label()]
        assert (patch.get_facecolor(), patch.get_hatch()) == (reference.get_facecolor(), reference.get_hatch())
