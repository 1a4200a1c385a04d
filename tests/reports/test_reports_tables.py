"""Table cells, bolding, footnotes and paired p-values against direct pandas / scipy computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports.render import to_markdown
from reports.schema import ReportSpec
from reports.convergence import still_moving
from reports.significance import holm, paired_tests, significance_table
from reports.tables import best_in_blocks, main_table, summarize

METRICS = ["acc", "nmi", "ari"]


def _expected_cells(trials) -> pd.DataFrame:
    """mean / std / n in percent at the last epoch, straight from the values the synthetic trials logged."""
    rows = [
        {"method.name": t.params["method.name"], "arm": t.arm, "dataset.name": t.params["dataset.name"],
         "metric": m, "value": 100.0 * t.history[m][-1]}
        for t in trials if not t.failed for m in METRICS
    ]
    frame = pd.DataFrame(rows)
    return frame.groupby(["method.name", "arm", "dataset.name", "metric"])["value"].agg(["mean", "std", "count"])


@pytest.fixture(scope="module")
def ablation_summary(loaded):
    runs = loaded("ablation")
    return runs, summarize(runs, ReportSpec(**runs.spec["report"]))


def test_means_stds_and_n_equal_pandas(synthetic_store, ablation_summary):
    _, summary = ablation_summary
    expected = _expected_cells(synthetic_store.ablation)
    cells = summary.cells.set_index(["method.name", "arm", "dataset.name", "metric"])
    assert len(cells) == len(expected) == 2 * 3 * 2 * 3
    for key, row in expected.iterrows():
        assert cells.loc[key, "mean"] == pytest.approx(row["mean"])
        assert cells.loc[key, "std"] == pytest.approx(row["std"])
        assert cells.loc[key, "n"] == row["count"]


def test_bold_is_the_best_arm_per_method_block_and_metric(synthetic_store, ablation_summary):
    _, summary = ablation_summary
    expected = _expected_cells(synthetic_store.ablation).reset_index()
    expected["shown"] = expected["mean"].round(1)
    best = expected.groupby(["method.name", "dataset.name", "metric"])["shown"].transform("max")
    winners = expected[expected["shown"] == best]
    bold = summary.cells[summary.cells["best"]]
    got = set(zip(bold["method.name"], bold["arm"], bold["dataset.name"], bold["metric"], strict=True))
    want = set(zip(winners["method.name"], winners["arm"], winners["dataset.name"], winners["metric"], strict=True))
    assert got == want
    assert set(bold["method.name"]) == {"cdc", "scan"}


def test_ties_at_the_shown_precision_are_all_bold_and_an_all_tie_block_has_none():
    cells = pd.DataFrame({
        "method.name": ["a", "a", "a", "b", "b", "c", "c"],
        "metric": ["acc", "acc", "acc", "acc", "acc", "pruned_frac", "pruned_frac"],
        "mean": [80.04, 79.96, 70.0, 0.0, 0.0, 10.0, 0.0],
    })
    assert best_in_blocks(cells, ["method.name"]).tolist() == [True, True, False, False, False, False, False]


def test_short_cell_is_marked_and_failed_trial_is_in_the_footnote(synthetic_store, ablation_summary):
    _, summary = ablation_summary
    failed = [t for t in synthetic_store.ablation if t.failed]
    short = summary.cells[summary.cells["short"]]
    assert set(zip(short["method.name"], short["arm"], short["dataset.name"], strict=True)) == {
        (t.params["method.name"], t.arm, t.params["dataset.name"]) for t in failed
    }
    assert (short["n"] == 4).all() and (short["n_failed"] == 1).all()
    markdown = to_markdown(main_table(summary))
    row = next(line for line in markdown.splitlines() if line.startswith("| CDC | ours |"))
    assert "(4)†‡" in row
    footnote = next(line for line in markdown.splitlines() if line.startswith("‡"))
    assert f"1 of {len(synthetic_store.ablation)} trials did not finish" in footnote
    assert failed[0].name in footnote and failed[0].failed in footnote


def test_bold_cells_render_bold_in_markdown(ablation_summary):
    _, summary = ablation_summary
    table = main_table(summary)
    markdown = to_markdown(table)
    assert markdown.count("**") == 2 * sum(map(sum, table.bold)) + 2  # plus the bold title
    assert sum(map(sum, table.bold)) == int(summary.cells["best"].sum())


def _last_by_seed(trials, cell: tuple[str, str, str], metric: str) -> dict[int, float]:
    """seed -> last-epoch value in percent of the trials of one (method, dataset, arm) cell."""
    return {t.seed: 100.0 * t.history[metric][-1] for t in trials
            if (t.params["method.name"], t.params["dataset.name"], t.arm) == cell}


def test_paired_p_values_and_intervals_equal_scipy(synthetic_store, ablation_summary):
    runs, summary = ablation_summary
    tests = paired_tests(runs.finished, summary, "baseline").set_index(["method.name", "dataset.name", "arm", "metric"])
    finished = [t for t in synthetic_store.ablation if not t.failed]
    for (method, dataset, arm, metric), row in tests.iterrows():
        ours = _last_by_seed(finished, (method, dataset, arm), metric)
        base = _last_by_seed(finished, (method, dataset, "baseline"), metric)
        seeds = sorted(set(ours) & set(base))
        a, b = np.array([ours[s] for s in seeds]), np.array([base[s] for s in seeds])
        assert row["n"] == len(seeds) >= 4
        assert row["mean_diff"] == pytest.approx(np.mean(a - b))
        assert row["p_ttest"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
        low, high = stats.t.interval(0.95, len(seeds) - 1, loc=np.mean(a - b), scale=stats.sem(a - b))
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
        assert np.isnan(row["p_wilcoxon"])  # n < 6: the exact two-sided test cannot reach 0.05
    assert len(tests) == 2 * 2 * 2 * len(METRICS)  # methods x datasets x non-baseline arms x metrics
    assert tests.loc[("cdc", "cifar10", "ours", "acc"), "n"] == 4


def _holm_by_loop(p_values: list[float]) -> list[float]:
    """Holm's adjustment written out: the i-th smallest p times (m - i), running maximum, capped at 1."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def test_holm_adjustment_equals_the_written_out_procedure(ablation_summary):
    runs, summary = ablation_summary
    tests = paired_tests(runs.finished, summary, "baseline")
    assert tests["p_ttest_holm"].tolist() == pytest.approx(_holm_by_loop(tests["p_ttest"].tolist()))
    with_gaps = pd.Series([0.01, np.nan, 0.04, 0.03])
    np.testing.assert_allclose(holm(with_gaps), [0.03, np.nan, 0.06, 0.06])


def test_no_test_at_two_seeds(loaded):
    runs = loaded("ablation")
    two_seeds = runs.finished[runs.finished["seed"] < 2]
    summary = summarize(runs, ReportSpec(**runs.spec["report"]))
    tests = paired_tests(two_seeds, summary, "baseline")
    assert (tests["n"] == 2).all()
    assert tests[["p_ttest", "p_ttest_holm", "ci_low", "ci_high", "p_wilcoxon"]].isna().all().all()
    assert tests["mean_diff"].notna().all()
    table = significance_table(tests, summary, "baseline")
    assert not any(map(any, table.bold))
    assert "n ≥ 3" in table.notes[0]


def test_significance_table_bolds_holm_adjusted_p_below_005(ablation_summary):
    runs, summary = ablation_summary
    tests = paired_tests(runs.finished, summary, "baseline")
    table = significance_table(tests, summary, "baseline")
    assert [flags[3] for flags in table.bold] == (tests["p_ttest_holm"] < 0.05).tolist()
    assert not any(flags[2] for flags in table.bold)
    assert "Holm" in table.title and "all 24 t-tests" in table.notes[0]


def test_rows_come_in_the_spec_order_with_display_names(ablation_summary):
    _, summary = ablation_summary
    table = main_table(summary)
    assert table.index_names == ["Method", "Arm"]
    assert table.groups == ["CIFAR-10", "STL-10"]
    arms = ["baseline", "ours", "+DACHI"]  # the spec's order, neither alphabetical nor by trial name
    assert table.index == [("K-means", ""), *(("SCAN", a) for a in arms), *(("CDC", a) for a in arms)]
    assert table.breaks == [1, 4]
    tests = paired_tests(ablation_summary[0].finished, summary, "baseline")
    assert list(dict.fromkeys(tests["method.name"])) == ["scan", "cdc"]
    assert list(dict.fromkeys(tests["arm"])) == ["ours", "+DACHI"]


def test_kmeans_reference_row_is_the_mean_over_seeds(synthetic_store, ablation_summary):
    _, summary = ablation_summary
    table = main_table(summary)
    for dataset, group in [("cifar10", 0), ("stl10", 1)]:
        for j, metric in enumerate(METRICS):
            per_seed = {t.seed: 100 * t.once[f"kmeans_{metric}"] for t in synthetic_store.ablation
                        if t.params["dataset.name"] == dataset}
            values = list(per_seed.values())
            text = table.cells[0][group * len(METRICS) + j]
            assert text == f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}"
    assert not any(table.bold[0])
    assert any(note.startswith("K-means: K-means on the pre-trained features") for note in table.notes)


def test_a_still_moving_trial_is_marked_not_converged(loaded):
    runs = loaded("convergence")
    assert runs.trials.groupby("arm")["not_converged"].all().to_dict() == {
        "falling_loss": True, "flat": False, "rising": True
    }
    summary = summarize(runs, ReportSpec(**runs.spec["report"]))
    acc = summary.cells[summary.cells["metric"] == "acc"].set_index("arm")
    assert acc.loc["rising", "n_not_converged"] == 3 and acc.loc["flat", "n_not_converged"] == 0
    markdown = to_markdown(main_table(summary))
    rows = {line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| ")}
    assert "§" in rows["rising"] and "§" not in rows["flat"]
    assert any(line.startswith("§ not converged") for line in markdown.splitlines())


def test_a_cell_whose_seeds_end_under_their_kmeans_reference_is_marked(synthetic_store, ablation_summary):
    _, summary = ablation_summary
    below = {}  # (method, arm, dataset, metric) -> trials more than 2 points under their own K-means, counted directly
    for t in synthetic_store.ablation:
        if t.failed:
            continue
        for m in METRICS:
            key = (t.params["method.name"], t.arm, t.params["dataset.name"], m)
            below[key] = below.get(key, 0) + int(100 * t.history[m][-1] < 100 * t.once[f"kmeans_{m}"] - 2)
    cells = summary.cells.set_index(["method.name", "arm", "dataset.name", "metric"])
    assert {key: int(cells.loc[key, "n_below_reference"]) for key in below} == below
    assert 0 < sum(v > 0 for v in below.values()) < len(below)  # some cells are marked, not all
    table = main_table(summary)
    rows = [("SCAN", "baseline"), ("SCAN", "ours"), ("SCAN", "+DACHI"), ("CDC", "baseline"), ("CDC", "ours"),
            ("CDC", "+DACHI")]
    for (method, arm), cells_of_row in zip(rows, table.cells[1:], strict=True):
        for j, (dataset, metric) in enumerate((d, m) for d in ["cifar10", "stl10"] for m in METRICS):
            marked = below[(method.lower(), arm, dataset, metric)] > 0
            assert ("¶" in cells_of_row[j]) is marked, (method, arm, dataset, metric)
    assert not any("¶" in text for text in table.cells[0])  # the reference row itself is never marked
    assert any(note.startswith("¶ under K-means") for note in table.notes)


def scripted_curve(start: float, end: float, epochs: int = 10) -> list[float]:
    return list(np.linspace(start, end, epochs))


@pytest.mark.parametrize(
    ("curve", "metric", "moving"),
    [
        (scripted_curve(0.6, 0.78), "acc", True),  # +2 points per epoch
        (scripted_curve(0.8, 0.8), "acc", False),
        (list(0.8 + 0.004 * np.random.default_rng(0).standard_normal(10)), "acc", False),  # noise, no trend
        (scripted_curve(-5.0, -9.0), "loss", True),
        (scripted_curve(-9.21, -9.21), "loss", False),  # SCAN's loss stuck at uniform outputs
        (list(-9.0 - 4.0 * np.exp(-np.arange(10.0))), "loss", False),  # levelled off after 3 epochs
        # CDC's baseline on digits (quickstart demo, seed 1): levelled off, +-0.05 of noise on a 0.75 range
        ([-0.83, -1.2, -1.35, -1.42, -1.47, -1.5, -1.51, -1.53, -1.52, -1.54,
          -1.53, -1.55, -1.54, -1.52, -1.55, -1.524, -1.548, -1.480, -1.595, -1.579], "loss", False),
        (list(0.8 + 0.01 * np.arange(10) + 0.002 * np.random.default_rng(1).standard_normal(10)), "acc", True),
    ],
)
def test_still_moving_on_scripted_curves(curve, metric, moving):
    assert still_moving(pd.Series(curve, index=range(1, len(curve) + 1)), metric) is moving


def test_a_grid_over_paths_gets_short_headers_and_paper_values_by_dataset_name(loaded):
    runs = loaded("nonimage")
    summary = summarize(runs, ReportSpec(**runs.spec["report"]))
    table = main_table(summary)
    assert table.index_names == ["Arm"] and table.groups == ["semeion", "cnae9"]  # the grid's order
    paper = summary.cells.set_index(["arm", "dataset.root", "metric"])["paper"]
    assert paper.loc[("baseline", "/data/tabular/cnae9/data.csv", "acc")] == 55.9
    assert paper.loc[("ours", "/data/tabular/semeion/data.csv", "ari")] == 40.8
    assert paper.notna().all()


def test_a_varying_grid_param_splits_the_rows(synthetic_store, loaded):
    runs = loaded("sensitivity")
    summary = summarize(runs, ReportSpec())
    assert summary.split_keys == ["init.alpha", "selection.epsilon"]
    acc = summary.cells[summary.cells["metric"] == "acc"].set_index(["init.alpha", "selection.epsilon"])
    for (alpha, epsilon), cell in acc.iterrows():
        values = [100 * t.history["acc"][-1] for t in synthetic_store.sensitivity
                  if t.params["init.alpha"] == alpha and t.params["selection.epsilon"] == epsilon]
        assert cell["n"] == len(values) == 2
        assert cell["mean"] == pytest.approx(np.mean(values))
    notes = main_table(summary).notes
    assert any("split by init.alpha, selection.epsilon" in note for note in notes)


@pytest.mark.parametrize("expected, shown", [(1, "73.1"), (3, "73.1 (1)†")])
def test_a_single_seed_cell_shows_n_only_when_seeds_are_missing(expected, shown):
    from reports.tables import cell_text

    cell = pd.Series({"n": 1, "mean": 73.125, "std": np.nan, "short": expected > 1, "n_unfinished": 0,
                      "n_not_converged": 0, "n_below_reference": 0})
    assert cell_text(cell, expected) == shown
