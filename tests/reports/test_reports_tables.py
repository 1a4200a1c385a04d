"""Table cells, bolding, footnotes and paired p-values against direct pandas / scipy computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from reports.render import to_markdown
from reports.schema import ReportSpec
from reports.significance import paired_tests, significance_table
from reports.tables import main_table, summarize

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


def test_best_per_column_is_the_column_maximum(synthetic_store, ablation_summary):
    _, summary = ablation_summary
    expected = _expected_cells(synthetic_store.ablation).reset_index()
    winners = expected.loc[expected.groupby(["dataset.name", "metric"])["mean"].idxmax()]
    bold = summary.cells[summary.cells["best"]]
    got = set(zip(bold["method.name"], bold["arm"], bold["dataset.name"], bold["metric"], strict=True))
    want = set(zip(winners["method.name"], winners["arm"], winners["dataset.name"], winners["metric"], strict=True))
    assert got == want


def test_short_cell_is_marked_and_failed_trial_is_in_the_footnote(synthetic_store, ablation_summary):
    _, summary = ablation_summary
    failed = [t for t in synthetic_store.ablation if t.failed]
    short = summary.cells[summary.cells["short"]]
    assert set(zip(short["method.name"], short["arm"], short["dataset.name"], strict=True)) == {
        (t.params["method.name"], t.arm, t.params["dataset.name"]) for t in failed
    }
    assert (short["n"] == 4).all() and (short["n_failed"] == 1).all()
    markdown = to_markdown(main_table(summary))
    row = next(line for line in markdown.splitlines() if line.startswith("| cdc | ours |"))
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


def test_paired_p_values_equal_scipy(synthetic_store, ablation_summary):
    runs, summary = ablation_summary
    tests = paired_tests(runs.finished, summary, "baseline").set_index(["method.name", "dataset.name", "arm", "metric"])
    finished = [t for t in synthetic_store.ablation if not t.failed]
    for (method, dataset, arm, metric), row in tests.iterrows():
        ours = _last_by_seed(finished, (method, dataset, arm), metric)
        base = _last_by_seed(finished, (method, dataset, "baseline"), metric)
        seeds = sorted(set(ours) & set(base))
        a, b = np.array([ours[s] for s in seeds]), np.array([base[s] for s in seeds])
        assert row["n"] == len(seeds)
        assert row["mean_diff"] == pytest.approx(np.mean(a - b))
        assert row["p_ttest"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
        if len(seeds) >= 5:
            assert row["p_wilcoxon"] == pytest.approx(stats.wilcoxon(a, b).pvalue)
        else:
            assert np.isnan(row["p_wilcoxon"])
    assert len(tests) == 2 * 2 * 2 * len(METRICS)  # methods x datasets x non-baseline arms x metrics
    assert tests.loc[("cdc", "cifar10", "ours", "acc"), "n"] == 4


def test_significance_table_bolds_p_below_005(ablation_summary):
    runs, summary = ablation_summary
    tests = paired_tests(runs.finished, summary, "baseline")
    table = significance_table(tests, summary, "baseline")
    assert [flags[2] for flags in table.bold] == (tests["p_ttest"] < 0.05).tolist()


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
