"""The per-epoch sample-selection table: means over seeds against the synthetic histories, computed directly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from reports.render import to_markdown
from reports.schema import ReportSpec
from reports.selection_health import MAX_EPOCHS_SHOWN, health_tables, selection_health, shown_epochs
from reports.tables import summarize


@pytest.fixture(scope="module")
def ablation(loaded):
    runs = loaded("ablation")
    summary = summarize(runs, ReportSpec(**runs.spec["report"]))
    return runs, summary, selection_health(runs, summary)


def test_only_cells_that_excluded_samples_appear(ablation):
    _, _, cells = ablation
    assert set(cells["arm"]) == {"ours"}
    assert set(cells["metric"]) == {"pruned_frac", "reinclusion_frac"}  # the synthetic trials log no pruned_acc


def test_means_are_the_finished_seeds_direct_means_in_percent(ablation, synthetic_store):
    _, _, cells = ablation
    for method in ("scan", "cdc"):
        for dataset in ("cifar10", "stl10"):
            trials = [t for t in synthetic_store.ablation if t.arm == "ours" and not t.failed
                      and t.params["method.name"] == method and t.params["dataset.name"] == dataset]
            for metric in ("pruned_frac", "reinclusion_frac"):
                expected = 100 * np.mean([t.history[metric][3] for t in trials])
                row = cells[(cells["method.name"] == method) & (cells["dataset.name"] == dataset)
                            & (cells["metric"] == metric) & (cells["epoch"] == 4)]
                assert row["mean"].item() == pytest.approx(expected)
                assert row["n"].item() == len(trials)


def test_one_table_per_dataset_with_a_row_per_cell_and_signal(ablation):
    _, summary, cells = ablation
    tables = health_tables(cells, summary)
    assert [t.title.split("(")[1].split(")")[0] for t in tables] == ["CIFAR-10", "STL-10"]
    assert all(t.subcolumns == ["ep 4"] for t in tables)
    assert [row[1:] for row in tables[0].index] == [("ours", "pruned"), ("ours", "re-included")] * 2
    assert "| SCAN | ours | pruned |" in to_markdown(tables[1])


def test_no_table_when_nothing_was_excluded(loaded):
    runs = dataclasses.replace(loaded("ablation"), histories=loaded("ablation").histories.assign(pruned_frac=0.0))
    summary = summarize(runs, ReportSpec(**runs.spec["report"]))
    assert health_tables(selection_health(runs, summary), summary) == []


def test_shown_epochs_span_first_exclusion_to_last_epoch():
    cells = pd.DataFrame({"metric": "pruned_frac", "epoch": range(1, 41), "mean": [0.0] * 3 + [30.0] * 37, "n": 3})
    epochs = shown_epochs(cells)
    assert epochs[0] == 4 and epochs[-1] == 40 and len(epochs) == MAX_EPOCHS_SHOWN
    assert epochs == sorted(set(epochs))
